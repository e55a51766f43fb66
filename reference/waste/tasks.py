"""waste-service tasks on ``q.ai``: the photo analyses (GPT-4o vision, 2-5 s; the lighter
classification)."""

from __future__ import annotations

import time
import uuid

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import worker_ready

from reference.common.settings import get_settings
from reference.common.telemetry import TASK_SECONDS, TASKS
from reference.waste import analysis


@worker_ready.connect
def _warm_up(**_: object) -> None:
    analysis.warm_up(get_settings())


def _run(task: Task, job_id: str) -> dict[str, object]:
    started = time.perf_counter()
    try:
        parsed = uuid.UUID(job_id)
    except (TypeError, ValueError):
        TASKS.labels(task.name, "failure").inc()
        raise Reject(f"malformed job id {job_id!r}", requeue=False) from None
    try:
        outcome = analysis.run(get_settings(), parsed)
    except analysis.JobFailed as exc:
        TASKS.labels(task.name, "failure").inc()
        # Late acks would acknowledge a failed task; rejecting dead-letters it to q.dlq.
        raise Reject(str(exc), requeue=False) from exc
    finally:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
    TASKS.labels(task.name, "success").inc()
    return {"job_id": job_id, "status": outcome.status.value, "cache_hit": outcome.cache_hit}


@shared_task(name="image.analyze", bind=True)
def analyze(self: Task, job_id: str) -> dict[str, object]:
    """Analyse an uploaded photo with GPT-4o vision (or the cache) and store the answer."""
    return _run(self, job_id)


@shared_task(name="image.classify", bind=True)
def classify(self: Task, job_id: str) -> dict[str, object]:
    """Classify an uploaded photo with the lighter vision model (category only)."""
    return _run(self, job_id)
