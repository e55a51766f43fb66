"""waste-service tasks on ``q.ai``: the photo analyses (GPT-4o vision, 2-5 s; the lighter
classification).

Every delivery ends with the job done or failed before its message is acknowledged: a model
failure fails the job at once (``JobFailed``); a transient error (Redis, PostgreSQL or S3
unavailable) is retried with backoff (``deadletter.run``), and after the last retry the job is
failed with the reason and the message rejected to ``q.dlq``.
"""

from __future__ import annotations

import uuid

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import worker_ready

from reference.common.settings import get_settings
from reference.common.telemetry import TASKS
from reference.waste import analysis
from reference.workers import deadletter


@worker_ready.connect
def _warm_up(**_: object) -> None:
    analysis.warm_up(get_settings())


def _run(task: Task, job_id: str) -> dict[str, object]:
    try:
        parsed = uuid.UUID(job_id)
    except (TypeError, ValueError):
        TASKS.labels(task.name, "failure").inc()
        raise Reject(f"malformed job id {job_id!r}", requeue=False) from None
    settings = get_settings()

    def work() -> analysis.Outcome:
        try:
            return analysis.run(settings, parsed, retries=task.request.retries or 0)
        except analysis.JobFailed as exc:  # already marked failed: dead-letter without retrying
            raise deadletter.Permanent(str(exc)) from exc

    def fail(exc: BaseException) -> None:
        analysis.fail_job(settings, parsed, *analysis.describe_failure(exc))

    outcome = deadletter.run(
        task, settings, work, retries=deadletter.Retries.ai(settings), on_dead=fail
    )
    return {"job_id": job_id, "status": outcome.status.value, "cache_hit": outcome.cache_hit}


# Belt and braces: a failure that escapes the handling above is rejected (to q.dlq), not acked.
NEVER_ACK_A_FAILURE = {"acks_on_failure": False, "acks_on_timeout": False}


@shared_task(name="image.analyze", bind=True, **NEVER_ACK_A_FAILURE)
def analyze(self: Task, job_id: str) -> dict[str, object]:
    """Analyse an uploaded photo with GPT-4o vision (or the cache) and store the answer."""
    return _run(self, job_id)


@shared_task(name="image.classify", bind=True, **NEVER_ACK_A_FAILURE)
def classify(self: Task, job_id: str) -> dict[str, object]:
    """Classify an uploaded photo with the lighter vision model (category only)."""
    return _run(self, job_id)
