"""Job accounting after the load: an accepted job the client did not see end gets a last look
in the database before it counts as lost."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadtests.records import server_timings

if TYPE_CHECKING:
    from harness.stack.local import LocalStack
    from reference.waste.models import Job
    from reference.waste.schemas import Timings


@dataclass(frozen=True)
class _Final:
    """What the database says about a job, read inside its session."""

    status: str
    error_code: str | None
    cache_hit: bool | None
    cache_match: str | None
    cache_distance: int | None
    category: str | None
    timings: dict[str, float | None]

    @classmethod
    def of(cls, job: Job, category: str | None, job_timings: Timings) -> _Final:
        return cls(
            job.status,
            job.error_code,
            job.cache_hit,
            job.cache_match,
            job.cache_distance,
            category,
            server_timings(job_timings.model_dump()),
        )


def settle_open_jobs(
    events: list[dict[str, Any]], stack: LocalStack | None, drain_seconds: float
) -> list[str]:
    """Give accepted jobs the client saw unfinished (its flow failed after acceptance, or the
    load stopped) until ``drain_seconds`` to end on the server; return notes. Events are updated
    in place with the server's final status, its timings (queue wait, stages) and, for a
    finished job, the category it answered and whether that came from the cache, so its answer
    is still checked.
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
    from reference.waste.results import timings

    deadline = time.monotonic() + drain_seconds
    while True:
        with session_scope(stack.settings.database_url) as session:
            rows = session.execute(
                select(Job, Analysis.category)
                .outerjoin(Analysis, Analysis.id == Job.analysis_id)
                .where(Job.id.in_([uuid.UUID(j) for j in open_jobs]))
            ).all()
            finals = {str(job.id): _Final.of(job, category, timings(job)) for job, category in rows}
        ended = all(final.status in ("done", "failed") for final in finals.values())
        if ended or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    settled = 0
    for job_id, event in open_jobs.items():
        final = finals.get(job_id)
        if final is None or final.status not in ("done", "failed"):
            continue
        event["status"] = final.status
        event["settled_late"] = True
        # The server's timings, as the client reads them from the result: a job held up until
        # after the load (a starved q.ai, a slow stage) still counts in those gates.
        event.update(final.timings)
        if final.status == "done":
            event["got_category"] = final.category
            event["cache_hit"] = bool(final.cache_hit)
            event["cache_match"] = final.cache_match or ""
            event["cache_distance"] = final.cache_distance
        else:
            event["error_code"] = final.error_code
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
