from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.compare import compare
from harness.report.html import render_html
from harness.report.junit import junit_xml
from harness.report.plots import render_all
from harness.report.rundata import RunData
from tests.harness.report.factories import events, run, series, summary


def test_html_is_self_contained_with_gates_and_figures(tmp_path: Path) -> None:
    page = render_html(run(tmp_path, ["pass", "fail", "inconclusive"]))
    assert page.count("data:image/png;base64,") == 6
    assert "Where each job&#39;s time went (server stage times)" in page
    assert "http://" not in page.replace("http://127.0.0.1:1", "")  # nothing loaded from outside
    for verdict in ("pass", "fail", "inconclusive"):
        assert f'<td class="{verdict}">{verdict}</td>' in page
    assert "<script" not in page


def test_figures_are_skipped_without_data(tmp_path: Path) -> None:
    empty = RunData(tmp_path, summary([]), [], [], series().__class__())
    assert render_all(empty) == {}


def test_the_stage_split_needs_server_times(tmp_path: Path) -> None:
    title = "Where each job's time went (server stage times)"
    rows = events(50, seed=3)
    assert title in render_all(RunData(tmp_path, summary([]), rows, [], series()))
    without = [{**e, "server_processing_ms": None} for e in rows]
    assert title not in render_all(RunData(tmp_path, summary([]), without, [], series()))
    only_hits = [e for e in rows if e["cache_hit"]]
    assert title in render_all(RunData(tmp_path, summary([]), only_hits, [], series()))


def test_junit_counts_failures_and_errors(tmp_path: Path) -> None:
    root = ET.fromstring(junit_xml(summary(["pass", "fail", "inconclusive", "fail"])))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    cases = suite.findall("testcase")
    assert cases[1].find("failure") is not None and cases[0].find("failure") is None
    assert cases[2].find("error") is not None


def test_compare_flags_a_real_slowdown(tmp_path: Path) -> None:
    base = RunData(tmp_path, summary([]), events(400, seed=1), [], series())
    slower = RunData(tmp_path, summary([]), events(400, seed=2, scale=1.4), [], series())
    findings = {f.metric: f for f in compare(base, slower)}
    miss = findings["processing_ms p95 (miss)"]
    assert miss.regression and miss.change > 0.10 and miss.p_value is not None
    assert miss.p_value < 0.01
    assert not findings["processing_ms p95 (hit)"].regression  # hits were not slowed


def test_compare_does_not_flag_noise(tmp_path: Path) -> None:
    base = RunData(tmp_path, summary([]), events(400, seed=1), [], series())
    same = RunData(tmp_path, summary([]), events(400, seed=3), [], series())
    assert not any(f.regression for f in compare(base, same))


def test_compare_flags_a_cache_that_stopped_hitting(tmp_path: Path) -> None:
    base = RunData(tmp_path, summary([]), events(400, seed=1), [], series())
    cold = RunData(tmp_path, summary([]), events(400, seed=1, hit_share=0.3), [], series())
    findings = {f.metric: f for f in compare(base, cold)}
    assert findings["cache hit ratio"].regression
