"""What the user sees, as gate observations: per-scan check columns, the history held per scan
the client saw end, statistics per user, and missing checks failing closed."""

from __future__ import annotations

from typing import Any

from harness.collect.series import Series
from harness.run.observations import build, check_notes


def event(user: int, job: str, status: str = "done", **extra: Any) -> dict[str, Any]:
    return {
        "process": "0",
        "user": str(user),
        "job_id": job,
        "accepted": True,
        "status": status,
        "started_at": 100.0,
        "follow": "poll",
        "variant": "new",
        **extra,
    }


def check(user: int, **extra: Any) -> dict[str, Any]:
    return {"process": "0", "user": str(user), "checked_at": 130.0, "error": "", **extra}


def samples(events: list[dict[str, Any]], checks: list[dict[str, Any]]) -> Any:
    return build(events, [], Series(), start=90.0, end=140.0, checks=checks)


def reasons(observed: Any, metric: str) -> list[str | None]:
    return [obs.tag("reason") for obs in observed.observations(metric) if obs.value]


def test_the_history_is_held_to_every_scan_the_client_saw_end() -> None:
    events = [
        event(1, "a"),
        event(1, "b", status="failed"),
        event(1, "c"),
        event(1, "d", status="done", settled_late=True),  # the user never saw it end
        event(1, "e", status="timeout"),
        event(2, "f"),
    ]
    checks = [check(1, history_missing="c", history_wrong="b:status"), check(2)]
    observed = samples(events, checks)
    assert len(observed.observations("history_missing")) == 4  # a, b, c, f
    assert sorted(reasons(observed, "history_missing")) == ["missing", "wrong"]
    assert observed.values("stats_mismatch") == [0.0, 0.0]


def test_a_user_without_a_usable_check_fails_closed() -> None:
    events = [event(1, "a"), event(2, "b"), event(3, "c")]
    checks = [check(1, error="timed out waiting for statistics"), check(2, stats_mismatch="done")]
    observed = samples(events, checks)
    # user 1's check failed, user 3 wrote none: neither history can count as seen
    assert reasons(observed, "history_missing") == ["unchecked", "unchecked"]
    assert reasons(observed, "stats_mismatch") == ["unchecked", "mismatch", "unchecked"]
    notes = check_notes(events, checks)
    assert any("p0-u3" in note and "no history check" in note for note in notes), notes
    assert any("p0-u1" in note and "timed out" in note for note in notes), notes


def test_per_scan_checks_become_observations_only_where_they_applied() -> None:
    events = [
        event(1, "a", progress_backwards=False, progress_frozen=True, status_result_mismatch=False),
        event(1, "b", progress_backwards=True, follow_mismatch=False),
        event(1, "c", status_result_mismatch=True),
    ]
    observed = samples(events, [check(1)])
    assert observed.values("progress_backwards") == [0.0, 1.0]
    assert observed.values("progress_frozen") == [1.0]
    assert observed.values("follow_mismatch") == [0.0]
    assert observed.values("status_result_mismatch") == [0.0, 1.0]
