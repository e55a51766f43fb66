"""What a fault run measures, on made-up timelines: steady state before, during and after,
recovery time, jobs lost, failed and answered twice, and the fault gates' observations."""

from __future__ import annotations

from typing import Any

import pytest

from harness.collect.series import Series, point
from harness.gates.evaluate import Verdict, evaluate
from harness.gates.measurements import Samples
from harness.gates.model import Gate
from harness.run import recovery

T0 = 1_000_000.0
FAULT = {"label": "broker-restart", "kind": "broker-restart", "started": T0 + 30, "ended": T0 + 40}


def _scan(t: float, ms: float = 400.0, status: str = "done", job: str = "", **more: Any) -> dict:
    return {
        "job_id": job or f"j{t:.2f}",
        "accepted": True,
        "status": status,
        "scheduled_at": t,
        "started_at": t,
        "processing_ms": ms if status == "done" else None,
        "end_to_end_ms": ms + 100,
        **more,
    }


def _timeline(slow_until: float, *, lost_at: float | None = None) -> list[dict]:
    """A scan every 0.5 s for 100 s; scans started during the fault or before ``slow_until``
    take 8 s; one lost at ``lost_at``."""
    events = []
    for n in range(200):
        t = T0 + n * 0.5
        slow = FAULT["started"] <= t < slow_until
        status = "processing" if lost_at is not None and abs(t - lost_at) < 0.01 else "done"
        events.append(_scan(t, 8000.0 if slow else 400.0, status))
    return events


def _series(busy_until: float) -> Series:
    series = Series()
    for n in range(100):
        t = T0 + n
        depth = 40.0 if FAULT["started"] <= t < busy_until else 0.0
        series.add([point(t, "queue_depth", depth, queue="q.ai")])
    return series


def _judge(events: list[dict], series: Series, twice: set[str] | None = None):
    return recovery.judge_faults(
        [FAULT],
        events,
        series,
        twice=twice or set(),
        time_scale=1.0,
        steady_from=T0,
        run_end=T0 + 100,
    )[0]


def test_recovery_is_when_p95_and_queues_are_back() -> None:
    outcome = _judge(_timeline(slow_until=T0 + 48), _series(busy_until=T0 + 52))
    assert outcome.before.p95_ms == pytest.approx(400.0)
    assert outcome.during.p95_ms == pytest.approx(8000.0)
    # The queue is back at 52 s; the p95 over the scans finishing in the window later: the last
    # slow scan (started at 47.5 s, 8.1 s long) finishes at 55.6 s, 15.6 s after the fault.
    assert outcome.recovery_seconds == pytest.approx(15.6, abs=1.0)  # 0.5 s steps, 1 s samples
    assert outcome.after is not None and outcome.after.p95_ms == pytest.approx(400.0)
    assert (outcome.lost, outcome.failed, outcome.answered_twice) == (0, 0, 0)


def test_a_system_that_stays_slow_never_recovers() -> None:
    outcome = _judge(_timeline(slow_until=T0 + 200), _series(busy_until=T0 + 52))
    assert outcome.recovery_seconds is None and outcome.after is None


def test_jobs_touched_by_the_fault_are_counted_lost_failed_and_twice() -> None:
    events = _timeline(slow_until=T0 + 40, lost_at=T0 + 35)
    events[int(36 / 0.5)]["status"] = "failed"
    twice = {events[int(38 / 0.5)]["job_id"]}
    outcome = _judge(events, _series(busy_until=T0 + 40), twice)
    assert (outcome.lost, outcome.failed, outcome.answered_twice) == (1, 1, 1)


def test_answered_twice_is_a_stored_answer_newer_than_the_one_the_user_saw() -> None:
    seen_done = _scan(T0, job="a")  # the user had it at T0 + 0.5 s
    again = _scan(T0, job="b")
    late = _scan(T0, job="c", settled_late=True)  # the user never saw it end
    finished = {"a": T0 + 0.4, "b": T0 + 9.0, "c": T0 + 9.0}
    assert recovery.answered_twice([seen_done, again, late], finished) == {"b"}


def _gate(metric: str, threshold: str, min_samples: int = 1) -> Gate:
    return Gate.model_validate(
        {"metric": metric, "thresholds": [threshold], "min_samples": min_samples}
    )


def _fault_gates(events: list[dict], series: Series, twice: set[str]) -> dict[str, Verdict]:
    outcome = _judge(events, series, twice)
    samples = Samples(start=T0, end=T0 + 100)
    recovery.add_observations(samples, [outcome], events, twice=twice)
    gates = (
        _gate("recovery_time", "max < 30000"),
        _gate("unrecovered_faults", "count == 0"),
        _gate("answered_twice", "count == 0"),
        _gate("failed_outside_faults", "count == 0"),
        _gate("processing_after_fault", "p(95) < 5000", 3),
    )
    return {g.gate.metric: g.verdict for g in evaluate(gates, samples).gates}


def test_the_fault_gates_pass_a_clean_recovery() -> None:
    verdicts = _fault_gates(_timeline(slow_until=T0 + 45), _series(busy_until=T0 + 45), set())
    assert set(verdicts.values()) == {Verdict.PASS}, verdicts


def test_the_fault_gates_fail_what_they_guard() -> None:
    events = _timeline(slow_until=T0 + 200)  # never recovers
    events[10]["status"] = "failed"  # long before the fault: outside its window
    verdicts = _fault_gates(events, _series(busy_until=T0 + 45), {events[100]["job_id"]})
    assert verdicts["unrecovered_faults"] is Verdict.FAIL
    assert verdicts["recovery_time"] is not Verdict.PASS  # no sample: inconclusive
    assert verdicts["processing_after_fault"] is not Verdict.PASS
    assert verdicts["answered_twice"] is Verdict.FAIL
    assert verdicts["failed_outside_faults"] is Verdict.FAIL


def test_a_slow_recovery_fails_the_recovery_gate() -> None:
    verdicts = _fault_gates(_timeline(slow_until=T0 + 75), _series(busy_until=T0 + 45), set())
    assert verdicts["recovery_time"] is Verdict.FAIL


def test_each_job_belongs_to_one_fault_at_most() -> None:
    windows = [(T0 + 30, T0 + 40), (T0 + 70, T0 + 80)]
    assert recovery.owner(_scan(T0 + 10), windows) is None  # long before either
    assert recovery.owner(_scan(T0 + 35), windows) == 0
    # Started 25 s after the first fault, ended during the second: the second's.
    assert recovery.owner(_scan(T0 + 65, ms=6000), windows) == 1
    # A lost job belongs to the first fault it lived through, not to every later one.
    assert recovery.owner(_scan(T0 + 29, status="processing"), windows) == 0
    assert recovery.owner(_scan(T0 + 60, status="processing"), windows) == 1
    assert recovery.owner(_scan(T0 + 200, status="processing"), windows) is None


def test_job_metrics_are_tagged_with_the_fault_that_touched_them() -> None:
    from harness.run import observations

    later = {"label": "reset redis", "kind": "reset", "started": T0 + 70, "ended": T0 + 75}
    never = {"label": "model-outage", "kind": "model-outage", "started": T0 + 90, "ended": None}
    faults = recovery.played([later, never, FAULT])  # one never ended; out of time order
    assert [f.label for f in faults] == ["broker-restart", "reset redis"]
    events = _timeline(slow_until=T0 + 50)
    samples = observations.build(events, [], Series(), start=T0, end=T0 + 100, faults=faults)
    steady = samples.values("processing_time", {"fault": "none"})
    touched = samples.values("processing_time", {"fault": "broker-restart"})
    assert steady and set(steady) == {400.0}  # the slow scans all belong to the fault
    assert 8000.0 in touched
    assert samples.values("processing_time", {"fault": "reset redis"})
    assert len(steady) + len(touched) + len(
        samples.values("processing_time", {"fault": "reset redis"})
    ) == len(samples.values("processing_time"))
    # without faults the tag is absent, so no gate on it can pass by accident
    plain = observations.build(events, [], Series(), start=T0, end=T0 + 100)
    assert plain.values("processing_time", {"fault": "none"}) == []


def _hit(t: float, server_ms: float) -> dict:
    return _scan(t, server_ms + 300, cache_hit=True, server_processing_ms=server_ms)


@pytest.mark.parametrize(
    ("slow_between", "slow_during", "passes"),
    [(False, False, True), (False, True, True), (True, False, False)],
)
def test_resilience_fails_a_stack_slow_between_faults_and_only_that(
    slow_between: bool, slow_during: bool, passes: bool
) -> None:
    """resilience's steady-state gates (tag fault = "none"): a stack 1 s slower on every job
    between the faults fails them; the same slowness inside the fault's reach does not."""
    from harness.run import observations
    from harness.scenario import find_scenario, load_scenario

    scenario = load_scenario(find_scenario("resilience"))
    gates = [g for g in scenario.gates if g.tags.get("fault") == "none"]
    assert {g.metric for g in gates} == {"stack_overhead", "server_processing_time"}
    faults = recovery.played([FAULT])
    events = []
    for n in range(200):
        t = T0 + n * 0.5
        touched = recovery.fault_of(_scan(t), faults) != "none"
        slow = slow_during if touched else slow_between
        events.append(_hit(t, 120.0 + (1000.0 if slow else 0.0)))
    samples = observations.build(events, [], Series(), start=T0, end=T0 + 100, faults=faults)
    verdicts = {r.verdict for r in evaluate(gates, samples).gates}
    assert verdicts == {Verdict.PASS if passes else Verdict.FAIL}
