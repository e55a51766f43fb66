"""Expiring abandoned uploads: an analysis asked for whose upload was never completed.

A job stays ``awaiting_upload`` until the app calls upload-complete; an app that gave up (or a
client that only ever asks for upload URLs) would leave it, and any object it did upload, for
ever. :func:`expire` fails every such job older than ``upload_abandon_seconds`` with the code
``upload_abandoned`` and deletes its object from S3: the objects first, then the jobs, in one
transaction holding the rows, so a failing S3 changes nothing and the next run retries, and an
upload-complete racing it either wins (the job is queued, not expired) or finds it failed.
Run every ten minutes by beat (``jobs.expire_uploads``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.models import Job, JobStatus
from reference.waste.progress import ProgressStore
from reference.waste.results import result_out

CODE = "upload_abandoned"
# Jobs expired per transaction (each batch is one S3 delete request and one commit).
BATCH = 500


@dataclass
class Expired:
    jobs: int = 0
    job_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"expired": self.jobs, "job_ids": self.job_ids[:100]}


def expire(settings: Settings, now: datetime | None = None) -> Expired:
    """Fail every job still awaiting its upload ``upload_abandon_seconds`` after it was
    created, and delete the objects they name."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.upload_abandon_seconds)
    message = f"no upload completed within {settings.upload_abandon_seconds} s"
    done = Expired()
    store = ProgressStore(
        get_redis(settings.redis_url), Keys(settings.redis_prefix), settings.job_state_ttl_seconds
    )
    while True:
        with session_scope(settings.database_url) as session:
            jobs = list(
                session.scalars(
                    select(Job)
                    .where(Job.status == JobStatus.AWAITING_UPLOAD.value, Job.created_at < cutoff)
                    .order_by(Job.created_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not jobs:
                return done
            storage.delete_objects(settings, [job.object_key for job in jobs])
            for job in jobs:
                job.status = JobStatus.FAILED.value
                job.error_code = CODE
                job.error_message = message  # the client reads failures.FAILURES[CODE]
                job.finished_at = func.clock_timestamp()
            session.flush()
            for job in jobs:
                session.refresh(job)
            finals = [result_out(job, None) for job in jobs]
        for final in finals:  # after the commit: Redis never shows what PostgreSQL did not keep
            store.set_result(final)
        done.jobs += len(jobs)
        done.job_ids.extend(str(final.job_id) for final in finals)
        if len(jobs) < BATCH:
            return done
