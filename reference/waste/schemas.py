"""Request and response bodies of the waste API, and the classification contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reference.waste.categories import Category
from reference.waste.models import JobStatus, Mode

ALLOWED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic"]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: ContentType = Field(
        "image/jpeg", description="The photo's type; the pre-signed POST allows this one only."
    )
    mode: Mode = Field(Mode.ANALYZE, description="analyze (GPT-4o, full) or classify (lighter)")


class UploadTarget(BaseModel):
    """A pre-signed S3 POST: send ``fields`` and then the photo as the last part, named
    ``file``, as multipart/form-data. S3 refuses a photo over ``max_bytes``, another key or
    another Content-Type (the signed policy says so)."""

    url: str
    method: Literal["POST"] = "POST"
    fields: dict[str, str] = Field(
        description="Form fields to send before the file, unchanged (the policy and its "
        "signature among them)."
    )
    expires_at: datetime
    max_bytes: int


class JobLinks(BaseModel):
    upload_complete: str
    status: str
    result: str
    events: str


class AnalyzeResponse(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    upload: UploadTarget
    links: JobLinks


class ErrorInfo(BaseModel):
    code: str
    message: str


class JobState(BaseModel):
    """Progress of a job, as the status endpoint and the event stream report it."""

    job_id: uuid.UUID
    status: JobStatus
    stage: str
    progress: int = Field(ge=0, le=100)
    updated_at: datetime
    error: ErrorInfo | None = None


class Classification(BaseModel):
    """What the model (or the cache) says about a photo; the contract with the model's JSON."""

    item: str = Field(min_length=1, max_length=200)
    item_en: str | None = Field(None, max_length=200)
    category: Category
    confidence: float | None = Field(None, ge=0, le=1)
    disposal_steps: list[str] = Field(default_factory=list, max_length=20)


class ResultBody(Classification):
    category_label: str
    model: str
    analysis_id: uuid.UUID


class Timings(BaseModel):
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    processing_ms: float | None = Field(
        None, description="upload-complete to result stored, in milliseconds"
    )
    queue_wait_ms: float | None = Field(None, description="queued to started by a worker")
    download_ms: float | None = Field(None, description="the worker's S3 download")
    cache_lookup_ms: float | None = Field(
        None, description="content key, Redis lookup and, on a hit, decoding the cached answer"
    )
    model_ms: float | None = Field(
        None, description="time in the model call(s), retries included; none on a cache hit"
    )
    store_ms: float | None = Field(
        None, description="storing the answer in PostgreSQL, until finished_at is stamped"
    )


class ResultOut(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    cache_hit: bool | None = None
    cache_match: Literal["exact", "near", "model"] | None = Field(
        None,
        description="how it was answered: the cache by exact digest, the cache by a near "
        "duplicate's perceptual hash (cache_distance bits away), or the model",
    )
    cache_distance: int | None = Field(
        None, description="Hamming distance of the near duplicate that answered (0 exact)"
    )
    result: ResultBody | None = None
    error: ErrorInfo | None = None
    timings: Timings | None = None


class UploadCompleteOut(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    duplicate: bool = Field(description="true when this job had already been submitted")
