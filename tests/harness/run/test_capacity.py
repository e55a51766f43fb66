"""The capacity search's bisection, on a probe that stands in for real runs (a real run per
step takes minutes; the runs themselves are tests/harness/run/test_run.py's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.run.capacity import CAPACITY_FILE, Probe, search, write


def _probe(capacity: int, calls: list[int]) -> Callable[[int], Probe]:
    """A system whose gates pass up to ``capacity`` users."""

    def probe(users: int) -> Probe:
        calls.append(users)
        passed = users <= capacity
        return Probe(users, passed, f"run-{len(calls)}", {"p95": float(users)}, {})

    return probe


@pytest.mark.parametrize("capacity", [250, 251, 300, 312, 374])
def test_bisection_brackets_the_capacity_within_the_resolution(capacity: int) -> None:
    calls: list[int] = []
    result = search(_probe(capacity, calls), low=250, high=375, resolution=8)
    assert result.largest_passing is not None and result.smallest_failing is not None
    assert result.largest_passing <= capacity < result.smallest_failing
    assert result.smallest_failing - result.largest_passing <= 8
    assert calls[:2] == [250, 375]  # the ends are checked first
    assert len(calls) <= 2 + 4  # ceil(log2(125 / 8)) steps after the ends
    assert [p.users for p in result.probes] == calls


def test_a_count_passes_only_when_every_repeat_passes() -> None:
    calls: list[int] = []
    flaky = {300: iter([True, False])}  # 300 passes once, then fails

    def probe(users: int) -> Probe:
        calls.append(users)
        passed = next(flaky[users]) if users in flaky else users < 300
        return Probe(users, passed, f"run-{len(calls)}", {}, {})

    result = search(probe, low=250, high=350, resolution=50, repeat=2)
    assert (result.largest_passing, result.smallest_failing) == (250, 300)
    # 250 twice, 350 once (failed at once), 300 twice (the second run failed)
    assert calls == [250, 250, 350, 300, 300]


def test_the_ends_of_the_range_can_decide_the_search_alone() -> None:
    calls: list[int] = []
    too_high = search(_probe(100, calls), low=250, high=375)
    assert (too_high.largest_passing, too_high.smallest_failing, calls) == (None, 250, [250])
    assert too_high.verdict == "even 250 users fail"
    calls.clear()
    too_low = search(_probe(1000, calls), low=250, high=375)
    assert (too_low.largest_passing, too_low.smallest_failing) == (375, None)
    assert "above the range searched" in too_low.verdict and calls == [250, 375]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"low": 0, "high": 10}, "--low must be at least 1"),
        ({"low": 10, "high": 10}, "--high must be above --low"),
        ({"low": 1, "high": 10, "resolution": 0}, "--resolution"),
        ({"low": 1, "high": 10, "repeat": 0}, "--repeat"),
    ],
)
def test_a_bad_range_is_refused_before_any_run(arguments: dict[str, int], message: str) -> None:
    calls: list[int] = []
    with pytest.raises(ValueError, match=message):
        search(_probe(5, calls), **arguments)
    assert calls == []


def test_every_probe_is_written_as_the_search_goes(tmp_path: Path) -> None:
    snapshots: list[int] = []

    def on_probe(partial: object) -> None:
        path = write(partial, tmp_path)  # type: ignore[arg-type]
        snapshots.append(len(json.loads(path.read_text())["probes"]))

    result = search(_probe(300, []), low=250, high=375, resolution=30, on_probe=on_probe)
    assert snapshots == list(range(1, len(result.probes) + 1))
    saved = json.loads((tmp_path / CAPACITY_FILE).read_text())
    assert saved["largest_passing"] == result.largest_passing
    assert saved["verdict"] == result.verdict


runner = CliRunner()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--low", "300", "--high", "200"], "--high must be above --low"),
        (["--low", "10", "--high", "20", "--gate", "no such gate"], "has no gate 'no such gate'"),
        (["--low", "10", "--high", "20", "--set", "cache_enabled=maybe"], "--set cache_enabled"),
    ],
)
def test_the_command_refuses_bad_input_with_one_line(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = runner.invoke(app, ["capacity", "smoke", "--reports", str(tmp_path), *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.iterdir())  # nothing ran


def test_the_command_bisects_with_one_run_per_probe_and_writes_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own path (options, runs, judging, table, exit code) on a stand-in for
    ``harness.run.runner.run``: the capacity scenario's gates judge a simulated run, whose model
    calls get slower past 430 users."""
    from harness.run import runner as run_module
    from harness.run.runner import RunOptions, RunResult
    from harness.scenario import find_scenario, load_scenario
    from tests.harness.gates.simulation import Faults, simulate

    scenario = load_scenario(find_scenario("capacity"))
    seen: list[int] = []

    def fake_run(options: RunOptions, progress: object = None) -> RunResult:
        assert options.users is not None and options.scenario_path == find_scenario("capacity")
        seen.append(options.users)
        slow = Faults(added_latency_ms=4000.0) if options.users > 430 else Faults()
        run_dir = options.reports_dir / f"run-{len(seen)}"
        run_dir.mkdir(parents=True)
        evaluation = scenario.evaluate(simulate(scenario, slow, scans=3000))
        return RunResult(run_dir, evaluation, {"run_id": run_dir.name}, evaluation.exit_code())

    monkeypatch.setattr(run_module, "run", fake_run)
    gate = "p95 processing time under 5 s"
    bounds = ["--low", "400", "--high", "500", "--resolution", "25"]
    result = runner.invoke(
        app, ["capacity", "capacity", *bounds, "--gate", gate, "--reports", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert seen == [400, 500, 450, 425]
    (folder,) = tmp_path.iterdir()
    saved = json.loads((folder / CAPACITY_FILE).read_text())
    assert (saved["largest_passing"], saved["smallest_failing"]) == (425, 450)
    assert saved["gates"] == [gate]
    assert [p["users"] for p in saved["probes"]] == seen
    assert "425 users pass, 450 fail" in result.output
