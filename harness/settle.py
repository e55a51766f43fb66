"""Job accounting after the load: an accepted job the client did not see end gets a last look
in the database before it counts as lost."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.stack import LocalStack


def settle_open_jobs(
    events: list[dict[str, Any]], stack: LocalStack | None, drain_seconds: float
) -> list[str]:
    """Give accepted jobs the client saw unfinished (its flow failed after acceptance, or the
    load stopped) until ``drain_seconds`` to end on the server; return notes. Events are updated
    in place with the server's final status, its queue wait and, for a finished job, the
    category it answered and whether that came from the cache, so its answer is still checked.
    The client-side times stay empty: the client never saw the result."""
    open_jobs = {
        e["job_id"]: e
        for e in events
        if e.get("accepted") and e.get("status") not in ("done", "failed") and e.get("job_id")
    }
    if not open_jobs or stack is None or stack.settings is None:
        return (
            [f"{len(open_jobs)} accepted job(s) not seen finished by the client"]
            if open_jobs
            else []
        )
    from sqlalchemy import select

    from reference.common.db import session_scope
    from reference.waste.models import Analysis, Job

    deadline = time.monotonic() + drain_seconds
    while True:
        with session_scope(stack.settings.database_url) as session:
            rows = session.execute(
                select(
                    Job.id,
                    Job.status,
                    Job.error_code,
                    Job.cache_hit,
                    Job.queued_at,
                    Job.started_at,
                    Analysis.category,
                )
                .outerjoin(Analysis, Analysis.id == Job.analysis_id)
                .where(Job.id.in_([uuid.UUID(j) for j in open_jobs]))
            ).all()
        finals = {str(row.id): row for row in rows}
        ended = all(row.status in ("done", "failed") for row in finals.values())
        if ended or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    settled = 0
    for job_id, event in open_jobs.items():
        row = finals.get(job_id)
        if row is not None and row.status in ("done", "failed"):
            event["status"] = row.status
            event["settled_late"] = True
            if row.queued_at is not None and row.started_at is not None:
                # The server's queue wait, as the client reads it from the status answer: a
                # job held up until after the load (a starved q.ai) still counts in that gate.
                wait = (row.started_at - row.queued_at).total_seconds() * 1000
                event["server_queue_wait_ms"] = max(0.0, wait)
            if row.status == "done":
                event["got_category"] = row.category
                event["cache_hit"] = bool(row.cache_hit)
            else:
                event["error_code"] = row.error_code
            settled += 1
    lost = len(open_jobs) - settled
    return [
        f"the client did not see {len(open_jobs)} accepted job(s) end (its flow failed after "
        f"acceptance, or the load stopped); {settled} ended on the server within "
        f"{drain_seconds:.0f} s more, {lost} did not (lost)"
    ]


def finish_times(events: list[dict[str, Any]], stack: LocalStack) -> dict[str, float | None]:
    """The database's ``finished_at`` (epoch seconds) of every accepted job: compared with when
    the user saw the answer, it shows a job answered again after that (a redelivery)."""
    from sqlalchemy import select

    from reference.common.db import session_scope
    from reference.waste.models import Job

    assert stack.settings is not None
    ids = [uuid.UUID(e["job_id"]) for e in events if e.get("accepted") and e.get("job_id")]
    with session_scope(stack.settings.database_url) as session:
        rows = session.execute(select(Job.id, Job.finished_at).where(Job.id.in_(ids))).all()
    return {str(r.id): r.finished_at.timestamp() if r.finished_at else None for r in rows}
