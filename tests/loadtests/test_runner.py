"""``python -m loadtests`` as a user runs it: refusals before anything starts, then real runs
against the whole stack (gateway, AI worker, fakes) with two Locust processes."""

from __future__ import annotations

import csv
import json
import re
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.scenario import Scenario, parse_scenario
from harness.stack.local import LocalStack, StackOptions
from harness.stack.processes import free_port
from harness.stack.sandbox import ServerUrls
from loadtests.protocol import LoadPlan, LoadSettings, MasterPlan, WorkerPlan
from loadtests.records import EVENT_COLUMNS, FLOW_METRICS, REQUEST_COLUMNS
from tests.loadtests.factories import (
    TinyServer,
    closed_stage,
    fake_gateway,
    open_stage,
    scenario_toml,
    write,
)

REPO = Path(__file__).resolve().parents[2]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
FAST_OPENAI = ("--latency", "fixed:0.05", "--classify-latency", "fixed:0.05")


def loadtests(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


# -- refusals (no stack needed) -------------------------------------------------------------------


def test_a_base_url_that_does_not_answer_exits_2_with_one_line(tmp_path: Path) -> None:
    scenario = write(tmp_path, scenario_toml(stages=closed_stage("5s", 1, 1)))
    url = f"http://127.0.0.1:{free_port()}"
    done = loadtests("--scenario", str(scenario), "--base-url", url, "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: target {url} does not answer")
    assert not (tmp_path / "o").exists()


def test_a_bad_scenario_exits_2_naming_the_field(tmp_path: Path) -> None:
    scenario = write(tmp_path, scenario_toml(stages=closed_stage("5s", 0, 1)))
    done = loadtests(
        "--scenario", str(scenario), "--base-url", "http://127.0.0.1:9", "--out", str(tmp_path)
    )
    assert done.returncode == 2
    assert "load.stages[0].users" in done.stderr and done.stderr.startswith("error: ")


def test_an_unknown_scenario_name_exits_2(tmp_path: Path) -> None:
    done = loadtests("--scenario", "no-such", "--base-url", "http://x", "--out", str(tmp_path))
    assert done.returncode == 2 and "no scenario of that name" in done.stderr


def test_a_bad_upload_rewrite_exits_2_with_one_line(tmp_path: Path) -> None:
    scenario = write(tmp_path, scenario_toml(stages=closed_stage("5s", 1, 1)))
    done = loadtests(
        "--scenario", str(scenario), "--base-url", "http://127.0.0.1:9", "--out", str(tmp_path),
        "--upload-rewrite", "s3.internal:5000=127.0.0.1:30500",
        "--upload-rewrite", "s3.internal:5000",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --upload-rewrite 's3.internal:5000' is not FROM=TO "
        "(e.g. s3.internal:5000=127.0.0.1:30500)"
    ]


def test_the_harness_plan_reaches_every_worker_whole(tmp_path: Path) -> None:
    """What the harness writes for the master (``--plan``) reads back as it was, and the plan
    each worker gets carries the same load: one definition from the harness to the workers."""
    scenario = parse_scenario(scenario_toml(stages=closed_stage("5s", 2, 2)))
    rewrites = {"s3.internal:5000": "127.0.0.1:30500", "s3.other": "127.0.0.1:30501"}
    load = LoadPlan.of(
        scenario, tmp_path / "s.toml", "http://x/", drain_timeout=5, upload_rewrites=rewrites
    )
    assert load.base_url == "http://x" and load.photo_salt == load.run_id  # a cold cache
    assert load.flow_timeout == (scenario.scaled().flow_timeout or 120.0)
    written = LoadSettings(processes=2).master(load, "127.0.0.1:1").write(tmp_path / "plan.json")
    plan = MasterPlan.read(written)
    # the master waits for the two local workers, which the harness starts beside it
    assert (plan.bind, plan.expect_workers, plan.load) == ("127.0.0.1:1", 2, load)
    message = json.loads(json.dumps(WorkerPlan(1, 2, "f1", plan.load).to_message()))
    assert WorkerPlan.from_message(message) == WorkerPlan(1, 2, "f1", load)
    assert Scenario.model_validate(load.scenario) == scenario


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (LoadSettings(processes=0), "no Locust worker: pass --processes N"),
        (LoadSettings(processes=2, expect_workers=1), "--expect-workers 1 is fewer than the 2"),
        (LoadSettings(processes=1, master_bind="10.0.0.5"), "--master-bind '10.0.0.5' is not"),
        (LoadSettings(processes=-1), "--processes must be at least 0"),
    ],
)
def test_settings_that_cannot_make_a_run_are_refused(settings: LoadSettings, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        settings.check()
    LoadSettings(processes=0, expect_workers=3, master_bind="0.0.0.0:5557").check()


@pytest.mark.slow
def test_a_run_uploads_to_the_rewritten_address_with_the_original_host(tmp_path: Path) -> None:
    """Against a fake gateway whose pre-signed URLs name an address nothing resolves (like a
    kind cluster's moto): every upload reaches the server the rewrite names, Host unchanged."""
    in_cluster = "s3.cluster.invalid:5000"
    text = scenario_toml(
        stages=closed_stage("3s", 1, 1),
        processes=1,
        mix='scan = 1\nfollow = "poll"\nthink_time = { kind = "fixed", seconds = 0.2 }',
    )
    out = tmp_path / "run"
    with TinyServer(fake_gateway(f"http://{in_cluster}/bucket")) as api:
        done = loadtests(
            "--scenario", str(write(tmp_path, text)), "--base-url", api.url, "--out", str(out),
            "--upload-rewrite", f"{in_cluster}={api.netloc}",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    posts = [seen for seen in api.seen if seen.target == "/bucket"]
    assert posts and {(p.method, p.host) for p in posts} == {("POST", in_cluster)}
    uploads = [r for r in read(out / "requests.csv") if r["name"] == "s3:pre-signed-post"]
    assert len(uploads) == len(posts) and {r["ok"] for r in uploads} == {"true"}
    load = json.loads((out / "load.json").read_text())
    assert load["upload_rewrites"] == {in_cluster: api.netloc}


# -- real runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(servers: ServerUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        servers=servers, run_dir=tmp_path_factory.mktemp("stack"), openai_args=FAST_OPENAI
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def closed_run(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Six users over two processes for 12 s; scans polled, a few map and profile visits;
    few items photographed again and again, so identical repeats must hit the cache. The
    workers render their photos before the load (``photos_ahead``)."""
    folder = tmp_path_factory.mktemp("closed")
    text = scenario_toml(
        stages=closed_stage("12s", 6, 6),
        photos_ahead=True,
        mix='scan = 8\nbrowse_map = 1\nprofile = 1\nfollow = "poll"\n'
        'think_time = { kind = "uniform", low = 0.1, high = 0.3 }',
        images="items = 4\nzipf = 1.0\nrepeat_probability = 0.8\n"
        "variants = { identical = 0.7, reencoded = 0.1, resized = 0.1, cropped = 0.1 }\n"
        "size = [320, 240]",
    )
    out = folder / "run"
    done = loadtests(
        "--scenario", str(write(folder, text)), "--base-url", stack.base_url,
        "--out", str(out), "--heartbeat", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


@pytest.mark.e2e
@pytest.mark.integration
@pytest.mark.slow
class TestRuns:
    def test_the_files_hold_both_workers_rows(self, closed_run: Any) -> None:
        out, _ = closed_run
        for name in ("events.csv", "requests.csv", "checks.csv", "load.json"):
            assert (out / name).is_file()
        assert not (out / "histograms.json").exists()
        load = json.loads((out / "load.json").read_text())
        assert load["workers"] == 2 and [p["process"] for p in load["processes"]] == [0, 1]
        events = read(out / "events.csv")
        assert list(events[0]) == list(EVENT_COLUMNS)
        assert {e["process"] for e in events} == {"0", "1"}
        assert list(read(out / "requests.csv")[0]) == list(REQUEST_COLUMNS)

    def test_every_accepted_job_ends_and_answers_rightly(self, closed_run: Any) -> None:
        out, _ = closed_run
        events = read(out / "events.csv")
        load = json.loads((out / "load.json").read_text())
        assert len(events) == load["totals"]["flows_finished"] == load["totals"]["flows_started"]
        assert len(events) >= 40
        accepted = [e for e in events if e["accepted"] == "true"]
        outcomes = Counter((e["status"], e["error_stage"], e["error_code"]) for e in events)
        assert accepted, f"no scan was accepted: {outcomes}"
        assert {e["status"] for e in accepted} == {"done"}, outcomes
        assert len({e["job_id"] for e in accepted}) == len(accepted)
        for e in accepted:
            assert e["got_category"] == e["expected_category"], e
            assert float(e["end_to_end_ms"]) >= float(e["processing_ms"]) > 0
            assert float(e["started_at"]) >= float(e["scheduled_at"]) - 1e-3
            assert e["server_queue_wait_ms"] and e["follow"] == "poll"
        # Nothing starts after the load's end; what was in flight then still finished.
        ends = [p["load_end"] for p in load["processes"]]
        assert max(float(e["started_at"]) for e in events) < max(ends)
        assert load["totals"]["cut_at_drain"] == 0

    def test_the_photos_were_rendered_before_the_load(self, closed_run: Any) -> None:
        out, _ = closed_run
        load = json.loads((out / "load.json").read_text())
        for process in load["processes"]:
            photos = process["photos"]
            assert photos["rendered_ahead"]["photos"] >= photos["draws"] > 10, photos
            assert photos["rendered_in_load"] == 0
            # The load's own CPU excludes the rendering done before t=0.
            assert 0 < process["cpu_seconds_in_load"] < process["cpu_seconds"]

    def test_identical_repeats_hit_the_cache(self, closed_run: Any) -> None:
        out, _ = closed_run
        done = [e for e in read(out / "events.csv") if e["status"] == "done"]
        identical = [e for e in done if e["variant"] == "identical"]
        hits = [e for e in identical if e["cache_hit"] == "true"]
        assert len(hits) >= len(identical) / 2, (len(hits), len(identical))
        assert all(e["is_repeat"] == "true" for e in identical)
        # A hit answers without the model.
        assert all(e["model_ms"] == "" for e in hits)
        # The run's photos are its own (salted by the run id): a new photo is not in the cache,
        # but for the rare repeat that another process photographed again before its owner.
        new = [e for e in done if e["variant"] == "new"]
        assert sum(e["cache_hit"] == "true" for e in new) <= max(2, len(new) / 5)

    def test_requests_are_named_by_route_and_timed_exactly(self, closed_run: Any) -> None:
        out, _ = closed_run
        requests = read(out / "requests.csv")
        names = {r["name"] for r in requests}
        assert not [n for n in names if UUID.search(n)], names
        assert {
            "/api/v1/waste/analyze",
            "s3:pre-signed-post",
            "/api/v1/waste/upload-complete/{job_id}",
            "/api/v1/waste/status/{job_id}",
            "/api/v1/waste/result/{job_id}",
        } <= names
        assert {"/api/v1/locations/nearby", "/api/v1/users/me"} <= names
        scans = [r for r in requests if r["name"] == "/api/v1/waste/analyze"]
        assert len(scans) == len(read(out / "events.csv"))
        assert any(float(r["ms"]) != round(float(r["ms"])) for r in requests)  # not rounded

    def test_polling_follows_the_apps_half_second(self, closed_run: Any) -> None:
        out, _ = closed_run
        done = [e for e in read(out / "events.csv") if e["status"] == "done"]
        polls = [r for r in read(out / "requests.csv") if r["name"].endswith("/status/{job_id}")]
        processing = [float(e["processing_ms"]) for e in done]
        # one poll right after upload-complete, then one every 0.5 s until the job is done
        assert len(done) <= len(polls) <= sum(2 + ms / 500 for ms in processing)
        # a model call is never done at the first poll, so a miss waits for the second one
        misses = [float(e["processing_ms"]) for e in done if e["model_ms"]]
        assert misses and sum(ms >= 495 for ms in misses) >= 0.8 * len(misses)

    def test_every_workers_rows_reach_the_files_exactly_once(self, closed_run: Any) -> None:
        out, _ = closed_run
        load = json.loads((out / "load.json").read_text())
        events, requests = read(out / "events.csv"), read(out / "requests.csv")
        for worker in load["processes"]:
            index = str(worker["process"])
            assert worker["flows_finished"] > 0
            assert sum(e["process"] == index for e in events) == worker["flows_finished"]
            assert sum(r["process"] == index for r in requests) == worker["requests"]
        assert load["files"] == {
            "events": len(events),
            "requests": len(requests),
            "checks": len(read(out / "checks.csv")),
        }
        # ordered by intended start, as a single process would have written them
        at = [float(e["scheduled_at"]) for e in events]
        assert at == sorted(at)
        for metric in FLOW_METRICS:  # exact values, not rounded
            values = [float(e[metric]) for e in events if e[metric]]
            if values:
                assert any(v != round(v) for v in values), metric

    def test_progress_is_reported_on_stdout(self, closed_run: Any) -> None:
        _, done = closed_run
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        progress = [line for line in lines if line["type"] == "progress"]
        assert len(progress) >= 5
        assert progress[-1]["flows_started"] > progress[0]["flows_started"]
        assert lines[-1]["type"] == "summary"

    def test_open_model_measures_from_the_intended_start(
        self, stack: LocalStack, tmp_path: Path
    ) -> None:
        """Arrivals at 24/s but one user per process: flows queue up behind each other in
        the load generator, so end-to-end (from the intended start) keeps growing while the
        processing time of each flow stays flat; the arrivals never started are counted."""
        text = scenario_toml(
            stages=open_stage("10s", 24.0, 2),  # beyond two users' pace, however fast the stack
            mix='scan = 1\nfollow = "stream"',
            images="items = 3\nrepeat_probability = 0.5\nsize = [160, 120]",
        )
        out = tmp_path / "run"
        done = loadtests(
            "--scenario", str(write(tmp_path, text)), "--base-url", stack.base_url,
            "--out", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        events = [e for e in read(out / "events.csv") if e["status"] == "done"]
        assert {e["follow"] for e in events} == {"stream"}
        assert {e["user"] for e in events} == {"0"}  # one user in each process
        third = len(events) // 3
        early, late = events[:third], events[-third:]

        def median(rows: list[dict[str, str]], key: str) -> float:
            return statistics.median(float(e[key]) for e in rows)

        def lag(rows: list[dict[str, str]]) -> float:
            return statistics.median(
                float(e["started_at"]) - float(e["scheduled_at"]) for e in rows
            )

        assert median(late, "end_to_end_ms") > median(early, "end_to_end_ms") + 1000
        assert lag(late) > lag(early) + 1.0
        assert median(late, "processing_ms") < 2 * median(early, "processing_ms") + 100
        # end-to-end = start lag + the flow itself: the lag is what a closed loop would hide
        for e in events:
            lag_ms = (float(e["started_at"]) - float(e["scheduled_at"])) * 1000
            assert float(e["end_to_end_ms"]) >= lag_ms + float(e["processing_ms"]) - 1
        load = json.loads((out / "load.json").read_text())
        planned = load["totals"]["arrivals_planned"]
        assert planned == 240
        assert load["totals"]["arrivals_started"] < planned
        assert load["totals"]["cut_at_drain"] == 0  # every accepted job ended
