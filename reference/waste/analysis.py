"""The AI worker's pipeline for one job: fetch the photo, look up the cache, else ask the model,
store the answer, and report progress at each stage.

Every way out ends the job ``done`` or ``failed`` (a ``JobFailed`` tells the task to reject the
message to the dead-letter queue); a redelivered message for a finished job changes nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import func

from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.common.telemetry import CACHE_LOOKUPS
from reference.waste import classifier
from reference.waste.images import content_key
from reference.waste.models import Analysis, Job, JobStatus, Mode
from reference.waste.progress import ProgressStore
from reference.waste.results import cache_payload, from_cache_payload, result_out
from reference.waste.schemas import ResultBody

# A message delivered this many times without finishing is poison (it keeps killing workers).
MAX_DELIVERIES = 3


class JobFailed(Exception):
    """The job cannot succeed; it has been marked failed and its message must be dead-lettered."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Outcome:
    job_id: uuid.UUID
    status: JobStatus
    cache_hit: bool | None


def progress_store(settings: Settings) -> ProgressStore:
    return ProgressStore(
        get_redis(settings.redis_url), Keys(settings.redis_prefix), settings.job_state_ttl_seconds
    )


def warm_up(settings: Settings) -> None:
    """Create the process's clients and pools before the first job, so it does not pay for them
    (boto3 and the openai SDK take a few hundred milliseconds to build their clients)."""
    storage.s3_client(settings)
    classifier.client_for(settings)
    get_redis(settings.redis_url).ping()
    with session_scope(settings.database_url) as session:
        session.get(Job, uuid.UUID(int=0))


def fail_job(settings: Settings, job_id: uuid.UUID, code: str, message: str) -> None:
    """Mark a job failed in PostgreSQL and Redis (idempotent; a finished job is left alone)."""
    with session_scope(settings.database_url) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return
        if not JobStatus(job.status).terminal:
            job.status = JobStatus.FAILED.value
            job.error_code = code
            job.error_message = message[:2000]
            job.finished_at = func.clock_timestamp()
            session.flush()
            session.refresh(job)
        final = result_out(job, None)
    progress_store(settings).set_result(final)


def _start(settings: Settings, job_id: uuid.UUID) -> tuple[Job, Analysis | None, bool]:
    """Claim the job for this delivery; say whether it had already finished."""
    with session_scope(settings.database_url) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobFailed("job_not_found", f"no job {job_id}")
        if JobStatus(job.status).terminal:
            analysis = session.get(Analysis, job.analysis_id) if job.analysis_id else None
            return job, analysis, True
        job.deliveries += 1
        job.status = JobStatus.PROCESSING.value
        if job.started_at is None:
            job.started_at = func.clock_timestamp()
        session.flush()
        session.refresh(job)
        return job, None, False


def _download_checked(settings: Settings, job: Job) -> bytes | None:
    """The photo upload-complete checked, read up to the limit; ``JobFailed`` when the object
    was replaced since or is over the limit (the worker never holds more than the limit)."""
    if job.size_bytes is None or job.upload_etag is None:
        raise JobFailed("image_changed", "the job was queued without a checked upload")
    checked = storage.ObjectInfo(job.size_bytes, job.content_type, job.upload_etag)
    try:
        return storage.download(
            settings, job.object_key, checked=checked, max_bytes=settings.upload_max_bytes
        )
    except storage.ObjectChanged as exc:
        raise JobFailed(exc.code, exc.message) from None


def _cached(settings: Settings, key: str) -> ResultBody | None:
    if not settings.cache_enabled:
        return None
    raw = get_redis(settings.redis_url).get(key)
    return from_cache_payload(raw) if raw else None


def _finish(
    settings: Settings,
    job_id: uuid.UUID,
    digest: str,
    cache_hit: bool,
    analysis_id: uuid.UUID | None,
    answer: classifier.ModelAnswer | None,
    mode: Mode,
    model_ms: float | None = None,
) -> tuple[Job, Analysis] | None:
    """Store the answer; None when a cached analysis has disappeared from the database."""
    with session_scope(settings.database_url) as session:
        if answer is not None:
            c = answer.classification
            analysis = Analysis(
                content_key=digest,
                mode=mode.value,
                item=c.item,
                item_en=c.item_en,
                category=c.category.value,
                confidence=c.confidence,
                disposal_steps=c.disposal_steps,
                model=answer.model,
                raw_answer=answer.raw,
            )
            session.add(analysis)
            session.flush()
        else:
            found = session.get(Analysis, analysis_id)
            if found is None:
                return None
            analysis = found
        job = session.get(Job, job_id, with_for_update=True)
        assert job is not None
        job.status = JobStatus.DONE.value
        job.content_key = digest
        job.cache_hit = cache_hit
        job.model_ms = model_ms
        job.analysis_id = analysis.id
        job.finished_at = func.clock_timestamp()
        session.flush()
        session.refresh(job)
        return job, analysis


def run(settings: Settings, job_id: uuid.UUID) -> Outcome:
    """Process one delivery of a job's message. Raises ``JobFailed`` after marking it failed."""
    progress = progress_store(settings)
    try:
        job, analysis, finished = _start(settings, job_id)
        if finished:
            progress.set_result(result_out(job, analysis))  # repair a lost Redis copy
            return Outcome(job_id, JobStatus(job.status), job.cache_hit)
        if job.deliveries > MAX_DELIVERIES:
            raise JobFailed(
                "too_many_deliveries",
                f"delivered {job.deliveries} times without finishing (worker lost each time)",
            )
        mode = Mode(job.mode)
        progress.set_stage(job_id, JobStatus.PROCESSING, "downloading")
        data = _download_checked(settings, job)
        if data is None:
            raise JobFailed("image_missing", f"object {job.object_key} is gone from the bucket")

        progress.set_stage(job_id, JobStatus.PROCESSING, "cache_lookup")
        digest = content_key(data)
        cache_key = Keys(settings.redis_prefix).classification(mode.value, digest)
        cached = _cached(settings, cache_key)
        if cached is not None:
            stored = _finish(settings, job_id, digest, True, cached.analysis_id, None, mode)
            if stored is not None:
                CACHE_LOOKUPS.labels(mode.value, "hit").inc()
                progress.set_result(result_out(*stored))
                return Outcome(job_id, JobStatus.DONE, True)
        CACHE_LOOKUPS.labels(mode.value, "miss").inc()

        progress.set_stage(job_id, JobStatus.PROCESSING, "classifying")
        model_started = time.perf_counter()
        try:
            answer = classifier.classify(settings, mode, data, job.content_type)
        except classifier.ModelError as exc:
            raise JobFailed(exc.code, exc.message) from exc
        model_ms = (time.perf_counter() - model_started) * 1000

        progress.set_stage(job_id, JobStatus.PROCESSING, "saving")
        stored = _finish(settings, job_id, digest, False, None, answer, mode, model_ms)
        assert stored is not None
        done_job, analysis = stored
        final = result_out(done_job, analysis)
        if settings.cache_enabled and final.result is not None:
            get_redis(settings.redis_url).set(
                cache_key, cache_payload(final.result), ex=settings.cache_ttl_seconds
            )
        progress.set_result(final)
        return Outcome(job_id, JobStatus.DONE, False)
    except JobFailed as exc:
        fail_job(settings, job_id, exc.code, exc.message)
        raise
