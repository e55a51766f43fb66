"""Turning stored jobs and analyses into the answers the API gives (one place for both the
API's database fallback and the worker's Redis copy)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reference.waste.categories import LABELS_KO, Category
from reference.waste.failures import public_message
from reference.waste.models import Analysis, Job, JobStatus
from reference.waste.schemas import ErrorInfo, ResultBody, ResultOut, Timings


def result_body(analysis: Analysis) -> ResultBody:
    category = Category(analysis.category)
    return ResultBody(
        item=analysis.item,
        item_en=analysis.item_en,
        category=category,
        category_label=LABELS_KO[category],
        confidence=analysis.confidence,
        disposal_steps=list(analysis.disposal_steps),
        model=analysis.model,
        analysis_id=analysis.id,
    )


def _between_ms(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() * 1000 if start and end else None


def timings(job: Job) -> Timings:
    """The job's timestamps and where its processing time went (stage times, server clock)."""
    return Timings(
        created_at=job.created_at,
        queued_at=job.queued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        processing_ms=_between_ms(job.queued_at, job.finished_at),
        queue_wait_ms=_between_ms(job.queued_at, job.started_at),
        download_ms=job.download_ms,
        cache_lookup_ms=job.cache_lookup_ms,
        model_ms=job.model_ms,
        store_ms=job.store_ms,
    )


def result_out(job: Job, analysis: Analysis | None) -> ResultOut:
    status = JobStatus(job.status)
    error = None
    if status == JobStatus.FAILED:
        code = job.error_code or "failed"
        # The stored message may carry the model's or S3's own text: clients get the fixed one.
        error = ErrorInfo(code=code, message=public_message(code))
    return ResultOut(
        job_id=job.id,
        status=status,
        cache_hit=job.cache_hit,
        cache_match=job.cache_match,
        cache_distance=job.cache_distance,
        result=result_body(analysis) if analysis is not None else None,
        error=error,
        timings=timings(job),
    )


def cache_payload(body: ResultBody) -> bytes:
    return body.model_dump_json().encode()


def from_cache_payload(raw: bytes) -> ResultBody:
    data: dict[str, Any] = json.loads(raw)
    return ResultBody.model_validate(data)
