"""The AI worker's pipeline for one job: fetch the photo, look up the cache, else ask the model,
store the answer, and report progress at each stage.

Every way out ends the job ``done`` or ``failed`` (a ``JobFailed`` tells the task to reject the
message to the dead-letter queue), or raises a transient error (Redis, PostgreSQL or S3
unavailable) that the task retries and, after its last retry, turns into a failed job with
:func:`describe_failure`'s reason; a redelivered message for a finished job changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import redis
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.common.telemetry import CACHE_LOOKUPS, JOB_SECONDS, JOB_STAGE_SECONDS
from reference.waste import classifier, near_cache
from reference.waste.images import content_key
from reference.waste.models import Analysis, Job, JobStatus, Mode
from reference.waste.progress import ProgressStore
from reference.waste.results import cache_payload, result_out
from reference.waste.schemas import ResultOut
from reference.waste.stages import StageTimer

log = logging.getLogger(__name__)

# A message delivered this many times without finishing is poison (it keeps killing workers).
# The task's own retries after transient errors are not counted.
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


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """The job's error code and message for an error that outlived its retries."""
    cause = exc
    while cause.__cause__ is not None and not isinstance(
        cause, redis.RedisError | DBAPIError | BotoCoreError | ClientError
    ):
        cause = cause.__cause__
    if isinstance(cause, redis.RedisError):
        code = "redis_unavailable"
    elif isinstance(cause, DBAPIError):
        code = "database_unavailable"
    elif isinstance(cause, BotoCoreError | ClientError):
        code = "storage_unavailable"
    else:
        code = "internal_error"
    return code, f"gave up after retries: {type(cause).__name__}: {cause}"


def record_times(final: ResultOut) -> None:
    """A finished job's stage times, processing and overhead as metrics (the dashboards')."""
    timings = final.timings
    if timings is None or timings.processing_ms is None:
        return
    cache = "hit" if final.cache_hit else "miss"
    for stage in ("queue_wait", "download", "cache_lookup", "model", "store"):
        value = getattr(timings, f"{stage}_ms")
        if value is not None:
            JOB_STAGE_SECONDS.labels(stage, cache).observe(value / 1000)
    processing = timings.processing_ms / 1000
    JOB_SECONDS.labels("processing", cache).observe(processing)
    JOB_SECONDS.labels("overhead", cache).observe(processing - (timings.model_ms or 0) / 1000)


def fail_job(settings: Settings, job_id: uuid.UUID, code: str, message: str) -> None:
    """Mark a job failed in PostgreSQL, then Redis (idempotent; a finished job is left alone,
    and its Redis copy repaired)."""
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
        analysis = session.get(Analysis, job.analysis_id) if job.analysis_id else None
        final = result_out(job, analysis)
    progress_store(settings).set_result(final)


def repair_result(settings: Settings, job_id: uuid.UUID) -> None:
    """Rewrite a finished job's Redis copy from PostgreSQL (it may be stale or lost when Redis
    was down as the job finished)."""
    with session_scope(settings.database_url) as session:
        job = session.get(Job, job_id)
        if job is None or not JobStatus(job.status).terminal:
            return
        analysis = session.get(Analysis, job.analysis_id) if job.analysis_id else None
        final = result_out(job, analysis)
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


def _analysis(
    session: Session,
    *,
    digest: str,
    mode: Mode,
    analysis_id: uuid.UUID | None,
    answer: classifier.ModelAnswer | None,
) -> Analysis | None:
    """The model's new analysis, added; or the cached one (None when it has disappeared)."""
    if answer is None:
        return session.get(Analysis, analysis_id)
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
    return analysis


def _finish(
    settings: Settings,
    job_id: uuid.UUID,
    *,
    digest: str,
    cached: near_cache.CacheAnswer | None,
    analysis_id: uuid.UUID | None,
    answer: classifier.ModelAnswer | None,
    mode: Mode,
    stages: StageTimer,
) -> tuple[Job, Analysis] | None:
    """Store the answer and the job's stage times; None when a cached analysis has disappeared
    from the database. The store stage ends where ``finished_at`` is stamped."""
    with session_scope(settings.database_url) as session:
        with stages.stage("store"):
            analysis = _analysis(
                session, digest=digest, mode=mode, analysis_id=analysis_id, answer=answer
            )
            job = session.get(Job, job_id, with_for_update=True) if analysis else None
        if analysis is None:
            return None
        assert job is not None
        job.status = JobStatus.DONE.value
        job.content_key = digest
        job.cache_hit = cached is not None
        job.cache_match = "model" if cached is None else cached.match
        job.cache_distance = None if cached is None else cached.distance
        job.model_ms = stages.ms.get("model")
        job.download_ms = stages.ms.get("download")
        job.cache_lookup_ms = stages.ms.get("cache_lookup")
        job.store_ms = stages.ms.get("store")
        job.analysis_id = analysis.id
        job.finished_at = func.clock_timestamp()
        session.flush()
        session.refresh(job)
        return job, analysis


def run(settings: Settings, job_id: uuid.UUID, *, retries: int = 0) -> Outcome:
    """Process one delivery of a job's message (``retries``: the task's retries so far).

    Raises ``JobFailed`` after marking it failed; lets transient errors through for the task to
    retry."""
    progress = progress_store(settings)
    try:
        job, analysis, finished = _start(settings, job_id)
        if finished:
            progress.set_result(result_out(job, analysis))  # repair a lost Redis copy
            return Outcome(job_id, JobStatus(job.status), job.cache_hit)
        if job.deliveries - retries > MAX_DELIVERIES:
            raise JobFailed(
                "too_many_deliveries",
                f"delivered {job.deliveries} times without finishing (worker lost each time)",
            )
        mode = Mode(job.mode)
        stages = StageTimer()
        progress.set_stage(job_id, JobStatus.PROCESSING, "downloading")
        with stages.stage("download"):
            data = _download_checked(settings, job)
        if data is None:
            raise JobFailed("image_missing", f"object {job.object_key} is gone from the bucket")

        progress.set_stage(job_id, JobStatus.PROCESSING, "cache_lookup")
        with stages.stage("cache_lookup"):
            photo = near_cache.keyed(settings, content_key(data), data)
            cached = near_cache.lookup(settings, mode.value, photo)
        digest = photo.digest
        if cached is not None:
            stored = _finish(
                settings,
                job_id,
                digest=digest,
                cached=cached,
                analysis_id=cached.body.analysis_id,
                answer=None,
                mode=mode,
                stages=stages,
            )
            if stored is not None:
                CACHE_LOOKUPS.labels(mode.value, "hit", cached.match).inc()
                final = result_out(*stored)
                progress.set_result(final)
                record_times(final)
                return Outcome(job_id, JobStatus.DONE, True)
        CACHE_LOOKUPS.labels(mode.value, "miss", "none").inc()

        progress.set_stage(job_id, JobStatus.PROCESSING, "classifying")
        try:
            with stages.stage("model"):
                answer = classifier.classify(settings, mode, data, job.content_type)
        except classifier.ModelError as exc:
            raise JobFailed(exc.code, exc.message) from exc

        progress.set_stage(job_id, JobStatus.PROCESSING, "saving")
        stored = _finish(
            settings,
            job_id,
            digest=digest,
            cached=None,
            analysis_id=None,
            answer=answer,
            mode=mode,
            stages=stages,
        )
        assert stored is not None
        done_job, analysis = stored
        final = result_out(done_job, analysis)
        if final.result is not None:
            near_cache.store(settings, mode.value, photo, cache_payload(final.result))
        progress.set_result(final)
        record_times(final)
        return Outcome(job_id, JobStatus.DONE, False)
    except JobFailed as exc:
        fail_job(settings, job_id, exc.code, exc.message)
        raise
