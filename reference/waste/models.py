"""The waste schema: jobs (one per photo) and analyses (one per distinct classification)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reference.common.db import Base


class JobStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)


class Mode(StrEnum):
    """``analyze``: GPT-4o with disposal steps (image.analyze); ``classify``: the lighter
    category-only call (image.classify) with the category's standard steps."""

    ANALYZE = "analyze"
    CLASSIFY = "classify"

    @property
    def task_name(self) -> str:
        return f"image.{self.value}"


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (Index("ix_analyses_content", "content_key", "mode"), {"schema": "waste"})

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    content_key: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(200))
    item_en: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    disposal_steps: Mapped[list[str]] = mapped_column(JSONB)
    model: Mapped[str] = mapped_column(String(64))
    raw_answer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_status", "status"),
        {"schema": "waste"},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    mode: Mapped[str] = mapped_column(String(16), default=Mode.ANALYZE.value)
    status: Mapped[str] = mapped_column(String(24), default=JobStatus.AWAITING_UPLOAD.value)
    content_type: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    # What upload-complete checked: the worker reads that object only (size and ETag).
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    upload_etag: Mapped[str | None] = mapped_column(String(80))
    content_key: Mapped[str | None] = mapped_column(String(64))
    cache_hit: Mapped[bool | None]
    # How it was answered: exact (digest), near (perceptual hash, cache_distance bits away) or
    # model.
    cache_match: Mapped[str | None] = mapped_column(String(8))
    cache_distance: Mapped[int | None] = mapped_column(Integer)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    # Stage times of the delivery that finished it (reference.waste.stages): the model call(s),
    # retries included (none on a cache hit), the S3 download, the cache lookup, the store.
    model_ms: Mapped[float | None] = mapped_column(Float)
    download_ms: Mapped[float | None] = mapped_column(Float)
    cache_lookup_ms: Mapped[float | None] = mapped_column(Float)
    store_ms: Mapped[float | None] = mapped_column(Float)
    analysis_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("waste.analyses.id"))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
