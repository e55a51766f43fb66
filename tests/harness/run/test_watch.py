"""What the runner watches while the load runs (harness.run.watch), on real runs: a gate marked
``abort_on_fail`` that breaks stops the load early and fails the run, saying so; a stack process
that dies without the harness stopping it is a harness failure naming it; so is the load
generator dying. Each uses the short ``breaker`` scenario of test_run.py."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from harness.collect.series import Series, point
from harness.errors import HarnessError
from harness.gates.evaluate import Verdict
from harness.gates.model import Gate
from harness.report.rundata import SUMMARY
from harness.run.runner import RunOptions, RunResult, run
from harness.run.watch import LoadWatch
from harness.stack.local import LocalStack
from harness.stack.waits import wait_for
from tests.harness.run.breaker import GATES, WORKERS, breaker_toml

E2E = (pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240))


def e2e(test: Callable[..., None]) -> Callable[..., None]:
    for mark in E2E:
        test = mark(test)
    return test


LONG_LOAD = 30.0  # the breaker's stage, lengthened: an early stop must be plain on a busy host


# -- live checks on recorded data (no stack) ---------------------------------------------


class _Stack:
    """Just what the watch asks of a local stack."""

    settings = None

    def __init__(self) -> None:
        self.deaths: list[str] = []

    def unexpected_deaths(self) -> list[str]:
        return self.deaths


def _gate(metric: str, threshold: str, **fields: object) -> Gate:
    return Gate.model_validate({"metric": metric, "thresholds": [threshold], **fields})


def _watch(tmp_path: Path, gates: list[Gate], series: Series | None = None) -> LoadWatch:
    return LoadWatch(
        stack=_Stack(),  # type: ignore[arg-type]
        gates=gates,
        warmup=0.0,
        series=series or Series(),
        events_path=tmp_path / "events.csv",
        interval=0.05,
    )


def _write_events(path: Path, statuses: list[str], *, partial: str = "") -> None:
    now = time.time()
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("job_id", "accepted", "status", "started_at"))
        for number, status in enumerate(statuses):
            writer.writerow((f"job-{number}", "true", status, f"{now:.6f}"))
        out.write(partial)


def _stopped(watch: LoadWatch) -> threading.Event:
    stopped = threading.Event()
    watch.start(load_start=time.time() - 1, stop_load=stopped.set)
    wait_for(stopped.is_set, timeout=10, describe="the watch stopping the load")
    watch.stop()
    return stopped


def test_a_lost_job_in_the_live_events_fires_an_abort_on_fail_gate(tmp_path: Path) -> None:
    lost = _gate("lost_jobs", "count == 0", abort_on_fail=True, min_samples=50)
    _write_events(tmp_path / "events.csv", ["done", "timeout", "done"], partial="job-9,tr")
    watch = _watch(tmp_path, [lost])
    _stopped(watch)
    assert watch.abort is not None and watch.death is None
    assert watch.abort.gate == lost.title
    assert "count = 1 over 3 samples" in watch.abort.message  # the cut-off row is not read


def test_a_gauge_past_its_bound_fires_and_gates_without_the_flag_do_not(tmp_path: Path) -> None:
    series = Series()
    series.add([point(time.time(), "dlq_length", 150.0)])
    dlq = _gate("dlq_length", "max <= 100", abort_on_fail=True)
    watch = _watch(tmp_path, [_gate("dlq_length", "max <= 10"), dlq], series)
    _stopped(watch)
    assert watch.abort is not None and watch.abort.gate == dlq.title


def test_nothing_broken_nothing_stopped(tmp_path: Path) -> None:
    _write_events(tmp_path / "events.csv", ["done", "done"])
    watch = _watch(tmp_path, [_gate("lost_jobs", "count == 0", abort_on_fail=True)])
    stopped = threading.Event()
    watch.start(load_start=time.time() - 1, stop_load=stopped.set)
    wait_for(lambda: watch.checks >= 3, timeout=10, describe="three live checks")
    watch.stop()
    assert not stopped.is_set() and watch.abort is None and watch.errors == []


def test_a_process_dying_stops_the_load_and_is_named(tmp_path: Path) -> None:
    watch = _watch(tmp_path, [])
    stack = watch.stack
    assert isinstance(stack, _Stack)
    stack.deaths.append("worker-ai exited with code -9 (its log: logs/worker-ai.log)")
    _stopped(watch)
    assert watch.death == "worker-ai exited with code -9 (its log: logs/worker-ai.log)"
    assert watch.abort is None


# -- real runs -----------------------------------------------------------------------------


def _breaker(
    folder: Path, *, abort_lost: bool = False, flow_timeout: str = "", long: bool = False
) -> Path:
    text = breaker_toml(users=12)
    if long:
        text = text.replace('duration = "16s"', f'duration = "{LONG_LOAD:g}s"')
    if flow_timeout:  # the app gives up on a job after this long: it is lost then
        text = text.replace(
            "locust_processes = 1\n", f'locust_processes = 1\nflow_timeout = "{flow_timeout}"\n'
        )
    if abort_lost:
        lost = 'metric = "lost_jobs"\nthresholds = ["count == 0"]\nmin_samples = 10\n'
        assert lost in text
        text = text.replace(lost, lost + "abort_on_fail = true\n")
    path = folder / "breaker.toml"
    path.write_text(text)
    return path


def _run(tmp_path: Path, stack: LocalStack, scenario: Path, **options: object) -> RunResult:
    """A breaker run on the shared stack (conftest's breaker_stack)."""
    return run(
        RunOptions(
            scenario_path=scenario,
            reports_dir=tmp_path / "reports",
            stack=stack,
            workers=WORKERS,
            seed_replicas=False,
            drain_seconds=15.0,
            **options,  # type: ignore[arg-type]
        )
    )


def _when_loading(tmp_path: Path, act: Callable[[], None]) -> threading.Thread:
    """Call ``act`` once the Locust master has written its first flows (the load is on)."""

    def loading() -> bool:
        return any(
            len(path.read_text().splitlines()) > 2
            for path in (tmp_path / "reports").glob("*/events.csv")
        )

    def wait_then_act() -> None:
        wait_for(loading, timeout=120, interval=0.2, describe="the load's first flows")
        act()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def _children(marker: str) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if marker in " ".join(child.cmdline())
    ]


@e2e
def test_a_broken_abort_on_fail_gate_stops_the_load_early_and_fails_the_run(
    tmp_path: Path, breaker_stack: LocalStack
) -> None:
    result = _run(
        tmp_path,
        breaker_stack,
        _breaker(tmp_path, abort_lost=True, flow_timeout="3s", long=True),
        faults=("drop-jobs",),
    )
    aborted = result.summary["aborted"]
    assert aborted is not None, result.summary["notes"]
    assert aborted["gate"] == GATES["lost"]
    assert aborted["at_seconds"] < 0.6 * LONG_LOAD, aborted
    assert result.summary["duration_seconds"] < 0.6 * LONG_LOAD
    assert result.summary["verdict"] == "fail" and result.exit_code == 1
    lost = next(g for g in result.evaluation.gates if g.gate.title == GATES["lost"])
    assert lost.verdict is Verdict.FAIL  # confirmed on the complete data
    assert any(note.startswith("stopped early at") for note in result.summary["notes"])
    assert "Stopped early" in (result.run_dir / "report.html").read_text()
    assert json.loads((result.run_dir / SUMMARY).read_text())["aborted"]["gate"] == GATES["lost"]


@e2e
def test_without_abort_on_fail_the_same_breakage_runs_to_the_end(
    tmp_path: Path, breaker_stack: LocalStack
) -> None:
    """The control: the gate alone does not stop a run."""
    scenario = _breaker(tmp_path, flow_timeout="3s", long=True)
    result = _run(tmp_path, breaker_stack, scenario, faults=("drop-jobs",))
    assert result.summary["aborted"] is None
    assert result.summary["duration_seconds"] >= LONG_LOAD - 1
    assert result.exit_code == 1


@e2e
def test_a_stack_process_dying_mid_run_is_a_harness_failure_naming_it(
    tmp_path: Path, breaker_stack: LocalStack
) -> None:
    def crash_the_ai_worker() -> None:
        (worker,) = _children("reference.workers run ai")
        os.killpg(worker.pid, signal.SIGKILL)  # from outside: the harness did not stop it

    killer = _when_loading(tmp_path, crash_the_ai_worker)
    with pytest.raises(HarnessError) as caught:
        _run(tmp_path, breaker_stack, _breaker(tmp_path))
    killer.join(timeout=5)
    error = caught.value
    assert "worker-ai exited with code -9" in error.message, error.message
    assert "worker-ai.log" in error.message and error.logs is not None
    assert "\n" not in error.line()
    assert not list((tmp_path / "reports").glob("*/summary.json"))  # no verdict on a broken run


@e2e
def test_the_load_generator_dying_is_a_harness_failure(
    tmp_path: Path, breaker_stack: LocalStack
) -> None:
    def crash_the_load_generator() -> None:
        # the master and its workers (the harness's children beside it)
        (generator,) = _children("-m loadtests --plan")
        for process in [*_children("-m loadtests.worker"), generator]:
            process.kill()

    killer = _when_loading(tmp_path, crash_the_load_generator)
    with pytest.raises(HarnessError) as caught:
        _run(tmp_path, breaker_stack, _breaker(tmp_path))
    killer.join(timeout=5)
    assert "the load generator exited with code -9" in caught.value.message
    assert "locust.log" in caught.value.message
