"""Jobs the client lost track of get a last look in the database before they count as lost, and
a finished one still has its answer checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from harness.collect.series import Series
from harness.run.observations import build
from harness.run.settle import settle_open_jobs
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.models import Analysis, Job


def _job(settings: Settings, status: str, **fields: Any) -> str:
    with session_scope(settings.database_url) as session:
        job = Job(
            status=status, content_type="image/jpeg", object_key=f"k/{uuid.uuid4()}", **fields
        )
        session.add(job)
        session.flush()
        return str(job.id)


def _analysis(settings: Settings, category: str) -> uuid.UUID:
    with session_scope(settings.database_url) as session:
        analysis = Analysis(
            content_key=uuid.uuid4().hex,
            mode="analyze",
            item="x",
            category=category,
            disposal_steps=[],
            model="m",
            raw_answer={},
        )
        session.add(analysis)
        session.flush()
        return analysis.id


def _event(job_id: str, expected: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "accepted": True,
        "status": "error",
        "error_stage": "status",
        "error_code": "RemoteProtocolError",
        "expected_category": expected,
        "got_category": None,
        "cache_hit": None,
        "started_at": 1.0,
    }


def test_settled_jobs_carry_the_server_answer_and_the_rest_are_lost(settings: Settings) -> None:
    queued = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    right = _job(
        settings,
        "done",
        analysis_id=_analysis(settings, "paper"),
        cache_hit=True,
        queued_at=queued,
        started_at=queued + timedelta(seconds=20),
    )
    wrong = _job(settings, "done", analysis_id=_analysis(settings, "metal"), cache_hit=False)
    failed = _job(settings, "failed", error_code="model_unavailable")
    stuck = _job(settings, "processing")
    events = [_event(job, "paper") for job in (right, wrong, failed, stuck)]

    stack = SimpleNamespace(settings=settings)
    notes = settle_open_jobs(events, stack, drain_seconds=0.0)  # type: ignore[arg-type]

    assert notes == [
        "the client did not see 4 accepted job(s) end (its flow failed after acceptance, or the "
        "load stopped); 3 ended on the server within 0 s more, 1 did not (lost)"
    ]
    by_job = {e["job_id"]: e for e in events}
    assert (by_job[right]["status"], by_job[right]["got_category"]) == ("done", "paper")
    assert by_job[right]["cache_hit"] is True and by_job[right]["settled_late"]
    assert by_job[right]["server_queue_wait_ms"] == 20_000.0  # a starved job still counts
    assert by_job[right].get("processing_ms") is None  # the client never saw the result
    assert (by_job[wrong]["got_category"], by_job[wrong]["cache_hit"]) == ("metal", False)
    assert (by_job[failed]["status"], by_job[failed]["error_code"]) == (
        "failed",
        "model_unavailable",
    )
    assert by_job[stuck]["status"] == "error"

    samples = build(events, [], Series(), start=0.0, end=10.0)
    assert sum(samples.values("wrong_answers")) == 1  # the metal one, checked after all
    assert sum(samples.values("lost_jobs")) == 1
    assert samples.values("queue_wait") == [20_000.0]


def test_without_a_local_stack_the_unseen_jobs_are_only_counted() -> None:
    events = [_event(str(uuid.uuid4()), "paper")]
    assert settle_open_jobs(events, None, drain_seconds=5.0) == [
        "1 accepted job(s) not seen finished by the client"
    ]
    assert events[0]["status"] == "error"
