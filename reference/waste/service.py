"""The waste-service's logic: create a job with its upload target, accept the upload, report."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import redis
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from reference.common import limits, storage
from reference.common.errors import ApiError
from reference.common.settings import Settings
from reference.waste import images
from reference.waste.analysis import progress_store
from reference.waste.models import Analysis, Job, JobStatus, Mode
from reference.waste.progress import STAGES
from reference.waste.results import result_out
from reference.waste.schemas import JobState, ResultOut, UploadTarget

log = logging.getLogger(__name__)
T = TypeVar("T")

AI_PRIORITY = 10  # the seed's priority for q.ai work
OWNER_FIELD = "owner"  # the job's user id, in the job's progress hash in Redis


class PublishFn(Protocol):
    """Publishes a job's task to its queue: ``publish(task_name, job_id, priority)``."""

    def __call__(self, task_name: str, job_id: str, priority: int) -> None: ...


def parse_job_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(422, "invalid_job_id", f"job id {raw[:64]!r} is not a UUID") from None


def create_job(
    session: Session, settings: Settings, content_type: str, mode: Mode, user_id: uuid.UUID | None
) -> tuple[Job, UploadTarget]:
    job_id = uuid.uuid4()
    extension = content_type.split("/")[-1]
    job = Job(
        id=job_id,
        user_id=user_id,
        mode=mode.value,
        status=JobStatus.AWAITING_UPLOAD.value,
        content_type=content_type,
        object_key=f"uploads/{job_id}.{extension}",
    )
    session.add(job)
    # Commit before answering: the app may call upload-complete at once, before a
    # dependency's teardown would commit (seen as 404 job_not_found under load).
    session.commit()
    presigned = storage.presign_post(settings, job.object_key, content_type)
    target = UploadTarget(
        url=presigned.url,
        fields=presigned.fields,
        expires_at=datetime.now(UTC) + timedelta(seconds=presigned.expires_in),
        max_bytes=settings.upload_max_bytes,
    )
    store = progress_store(settings)
    store.set_stage(job_id, JobStatus.AWAITING_UPLOAD, "awaiting_upload")
    if user_id is not None:
        # Beside the live state, so the status hot path checks ownership in Redis alone.
        store.client.hset(store.keys.job(str(job_id)), OWNER_FIELD, str(user_id))
    return job, target


def not_found(job_id: uuid.UUID) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {job_id}")


def get_job(session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Job:
    job = session.get(Job, job_id)
    # Another user's job answers like a missing one: its existence is not disclosed.
    if job is None or (user_id is not None and job.user_id != user_id):
        raise not_found(job_id)
    return job


def check_owner(
    session: Session, settings: Settings, job_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """404 ``job_not_found`` unless the job is the caller's: Redis's record of the owner when it
    has one (the status hot path), else the durable job."""
    store = progress_store(settings)
    owner = store.client.hget(store.keys.job(str(job_id)), OWNER_FIELD)
    if owner is None:
        get_job(session, job_id, user_id)
    elif owner.decode() != str(user_id):
        raise not_found(job_id)


def _check_upload(settings: Settings, job: Job) -> storage.ObjectInfo:
    info = storage.head(settings, job.object_key)
    if info is None:
        raise ApiError(
            409, "upload_missing", "no image at the upload URL yet: POST the photo, then retry"
        )
    if info.size > settings.upload_max_bytes:
        raise ApiError(
            413,
            "upload_too_large",
            f"image is {info.size} bytes; at most {settings.upload_max_bytes} are accepted",
        )
    if info.size == 0:
        raise ApiError(422, "upload_empty", "the uploaded object is empty")
    try:
        prefix = storage.read_prefix(
            settings, job.object_key, length=images.SNIFF_BYTES, etag=info.etag
        )
    except storage.ObjectChanged:
        raise ApiError(
            409, "upload_changed", "the photo changed while it was checked; retry"
        ) from None
    if images.sniff(prefix) is None:
        raise ApiError(
            415, "upload_not_image", "the uploaded object is not a JPEG, PNG, WebP or HEIC image"
        )
    return info


def _mark_checked(settings: Settings, job: Job) -> None:
    """Tag the photo checked, so the bucket's lifecycle rule keeps it (a rejected upload stays
    pending and expires). Before the job is queued: a failure leaves it awaiting upload."""
    try:
        storage.mark_checked(settings, job.object_key)
    except (BotoCoreError, ClientError) as exc:
        raise ApiError(
            503, "storage_unavailable", "the photo could not be marked as checked; retry later"
        ) from exc


def complete_upload(
    session: Session, settings: Settings, job: Job, publish: PublishFn
) -> tuple[Job, bool]:
    """Check the upload and queue the job once; a repeated call queues nothing (idempotent).

    Returns the job and whether this call was a duplicate.
    """
    if job.status != JobStatus.AWAITING_UPLOAD.value:
        return job, True
    checked = _check_upload(settings, job)
    # Before the quota: a retry after storage_unavailable costs no model call.
    _mark_checked(settings, job)
    if job.user_id is not None:
        # Each queued job may be one paid model call: the daily quota counts uploads that
        # passed the check (a retry after upload_missing costs nothing).
        limits.hit(
            settings,
            limits.MODEL_CALLS,
            str(job.user_id),
            limit=settings.limit_model_calls_per_day,
        )
    # Only the request that moves the job out of awaiting_upload publishes its task.
    claimed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.AWAITING_UPLOAD.value)
        .values(
            status=JobStatus.QUEUED.value,
            size_bytes=checked.size,
            upload_etag=checked.etag,
            queued_at=func.clock_timestamp(),
        )
        .returning(Job.id)
    ).first()
    if claimed is None:
        session.refresh(job)
        return job, True
    store = progress_store(settings)
    # Written before publishing: a fast worker's "done" must not be overwritten by "queued".
    store.set_stage(job.id, JobStatus.QUEUED, "queued")
    try:
        publish(Mode(job.mode).task_name, str(job.id), AI_PRIORITY)
    except Exception as exc:
        session.rollback()
        store.set_stage(job.id, JobStatus.AWAITING_UPLOAD, "awaiting_upload")
        raise ApiError(
            503,
            "broker_unavailable",
            "could not queue the job, retry later",
        ) from exc
    session.commit()
    session.refresh(job)
    return job, False


def _live(read: Callable[[uuid.UUID], T], job_id: uuid.UUID) -> T | None:
    """Redis's live view of a job, or None when Redis does not answer (the caller then asks
    PostgreSQL)."""
    try:
        return read(job_id)
    except redis.RedisError as exc:
        log.warning("Redis unavailable for job %s (%s); asking PostgreSQL", job_id, exc)
        return None


def job_state(session: Session, settings: Settings, job: Job) -> JobState:
    state = _live(progress_store(settings).state, job.id)
    if state is not None:
        return state
    # Redis lost the live view (restart, eviction): rebuild it from the durable job.
    final = result_out(job, None)
    stage = "classifying" if job.status == JobStatus.PROCESSING.value else job.status
    return JobState(
        job_id=job.id,
        status=JobStatus(job.status),
        stage=stage,
        progress=STAGES[stage],
        updated_at=job.finished_at or job.started_at or job.queued_at or job.created_at,
        error=final.error,
    )


def current_state(session: Session, settings: Settings, job_id: uuid.UUID) -> JobState | None:
    """Redis's live view of a job, else one rebuilt from PostgreSQL (None: no such job)."""
    state = _live(progress_store(settings).state, job_id)
    if state is not None:
        return state
    job = session.get(Job, job_id)
    return job_state(session, settings, job) if job is not None else None


def current_result(session: Session, settings: Settings, job_id: uuid.UUID) -> ResultOut | None:
    """Redis's copy of a job's answer, else the one stored in PostgreSQL (None: no such job)."""
    cached = _live(progress_store(settings).result, job_id)
    if cached is not None:
        return cached
    job = session.get(Job, job_id)
    if job is None:
        return None
    analysis = session.get(Analysis, job.analysis_id) if job.analysis_id else None
    return result_out(job, analysis)


def job_result(session: Session, settings: Settings, job: Job) -> ResultOut:
    cached = _live(progress_store(settings).result, job.id)
    if cached is not None:
        return cached
    analysis = session.get(Analysis, job.analysis_id) if job.analysis_id else None
    return result_out(job, analysis)
