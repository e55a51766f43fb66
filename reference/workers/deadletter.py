"""How tasks end (batch, scheduled, and the AI tasks with their own ``Retries``): success, a
retry with backoff, or the dead-letter queue.

Late acks would acknowledge a task that raised, losing it silently; here every failure after
the last retry (or any failure retrying cannot fix) rejects the message without requeue, so it
is dead-lettered to ``q.dlq`` where the DLQ tooling can inspect and requeue it.

``q.sched`` is declared without a dead-letter exchange (the seed's table), so a rejection
there would drop the message: for such queues the task first publishes the same message to the
dead-letter exchange itself, with the ``x-death`` header RabbitMQ would have added, and only
then rejects it. Everything reading ``q.dlq`` sees one format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject

from reference.common import topology
from reference.common.settings import Settings, get_settings
from reference.common.telemetry import TASK_SECONDS, TASKS
from reference.workers.publisher import Unroutable, returned_messages

log = logging.getLogger(__name__)
T = TypeVar("T")


class Permanent(Exception):
    """A failure that retrying cannot fix (bad arguments, a missing binary): dead-letter now."""


@dataclass(frozen=True)
class Retries:
    """How a task retries a transient failure: how often, and the backoff between attempts."""

    max_retries: int
    backoff_seconds: float
    backoff_max_seconds: float = float("inf")

    @classmethod
    def batch(cls, settings: Settings) -> Retries:
        return cls(settings.batch_max_retries, settings.batch_retry_backoff_seconds)

    @classmethod
    def ai(cls, settings: Settings) -> Retries:
        return cls(
            settings.ai_max_retries,
            settings.ai_retry_backoff_seconds,
            settings.ai_retry_backoff_max_seconds,
        )

    def countdown(self, retries: int) -> float:
        return min(self.backoff_seconds * (2**retries), self.backoff_max_seconds)


OnDead = Callable[[BaseException], None]


def run(
    task: Task,
    settings: Settings,
    work: Callable[[], T],
    *,
    retries: Retries | None = None,
    on_dead: OnDead | None = None,
) -> T:
    """Run a task's work; retry transient failures, dead-letter the rest and the last one.

    ``on_dead`` runs before a message is dead-lettered after its retries (or because its retry
    could not be published), e.g. to fail the job with the reason; ``Permanent`` failures skip
    it (the work reported them itself). The message is dead-lettered even when it fails.
    """
    policy = retries or Retries.batch(settings)
    started = time.perf_counter()
    try:
        result = work()
    except Permanent as exc:
        TASKS.labels(task.name, "failure").inc()
        dead_letter(task, exc)
    except Exception as exc:
        done = task.request.retries or 0
        if done < policy.max_retries:
            TASKS.labels(task.name, "retry").inc()
            log.warning("%s[%s] failed (%s), retry %d", task.name, task.request.id, exc, done + 1)
            _retry(task, settings, exc, policy, on_dead)
        TASKS.labels(task.name, "failure").inc()
        _dead(task, exc, on_dead)
    finally:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
    TASKS.labels(task.name, "success").inc()
    return result


def _retry(
    task: Task, settings: Settings, exc: Exception, policy: Retries, on_dead: OnDead | None
) -> None:
    """Publish the retry (confirmed by the broker) and raise ``Retry``: only then does the
    worker acknowledge this message, so a crash in between duplicates the task, never loses it.

    Celery turns a retry it could not publish into ``Reject(requeue=False)``: the message is
    dead-lettered then, after ``on_dead``, rather than dropped.
    """
    retries = task.request.retries or 0
    try:
        raise task.retry(
            exc=exc,
            countdown=policy.countdown(retries),
            max_retries=policy.max_retries,
            timeout=settings.publish_timeout_seconds,
            confirm_timeout=settings.publish_timeout_seconds,
        ) from exc
    except Reject as unpublished:
        log.error("%s[%s] retry not published: %s", task.name, task.request.id, unpublished)
        _dead(task, RetryUnpublished(f"{exc}; the retry could not be published"), on_dead)


class RetryUnpublished(Exception):
    """The broker did not take a task's retry: the task is dead-lettered instead."""


def _dead(task: Task, exc: BaseException, on_dead: OnDead | None) -> None:
    if on_dead is not None:
        try:
            on_dead(exc)
        except Exception:
            # The DLQ reconcile fails the job later from the dead message; dead-letter it anyway.
            log.exception("%s[%s]: on_dead failed", task.name, task.request.id)
    dead_letter(task, exc)


def dead_letter(task: Task, exc: BaseException) -> None:
    """Reject the current message to q.dlq (raises ``Reject``; never returns)."""
    reason = f"{type(exc).__name__}: {exc}"[:500]
    spec = topology.queue_for_task(task.name)
    if not spec.dead_letters:
        try:
            _publish_dead_letter(task, spec, reason)
        except Exception:
            # Dropping the message would lose the task: give it back to its queue instead; the
            # next delivery, already past its retries, tries the dead-letter queue again.
            log.exception("%s[%s] could not be dead-lettered; requeued", task.name, task.request.id)
            raise Reject(reason, requeue=True) from exc
    log.error("%s[%s] dead-lettered: %s", task.name, task.request.id, reason)
    raise Reject(reason, requeue=False) from exc


def _x_death(previous: Any, spec: topology.QueueSpec, routing_key: str) -> list[dict[str, Any]]:
    """RabbitMQ's ``x-death`` list with this death added (most recent first, counted)."""
    deaths = [dict(d) for d in previous] if isinstance(previous, list) else []
    for death in deaths:
        if death.get("queue") == spec.name and death.get("reason") == "rejected":
            death["count"] = int(death.get("count", 1)) + 1
            deaths.remove(death)
            return [death, *deaths]
    entry = {
        "count": 1,
        "reason": "rejected",
        "queue": spec.name,
        "time": datetime.now(UTC),
        "exchange": topology.EXCHANGE,
        "routing-keys": [routing_key],
    }
    return [entry, *deaths]


def _publish_dead_letter(task: Task, spec: topology.QueueSpec, reason: str) -> None:
    request = task.request
    routing_key = (request.delivery_info or {}).get("routing_key") or (
        topology.routing_key_for_task(task.name)
    )
    message = task.app.amqp.as_task_v2(
        request.id,
        task.name,
        args=request.args,
        kwargs=request.kwargs,
        retries=request.retries or 0,
        root_id=request.root_id,
        parent_id=request.parent_id,
        origin=request.origin,
        reply_to=request.reply_to,
    )
    previous = dict(request.headers or {})
    headers = {**message.headers, **previous}
    headers["x-death"] = _x_death(previous.get("x-death"), spec, routing_key)
    headers.setdefault("x-first-death-queue", spec.name)
    headers.setdefault("x-first-death-reason", "rejected")
    headers.setdefault("x-first-death-exchange", topology.EXCHANGE)
    headers["x-wastecoach-error"] = reason
    timeout = get_settings().publish_timeout_seconds
    pool = task.app.producer_pool
    with pool.acquire(block=True, timeout=10) as producer, returned_messages(producer) as back:
        producer.publish(
            message.body,
            exchange=topology.DEAD_LETTER_EXCHANGE,
            routing_key=topology.DEAD_LETTER_ROUTING_KEY,
            headers=headers,
            serializer="json",
            delivery_mode=2,
            mandatory=True,
            timeout=timeout,
            confirm_timeout=timeout,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            **message.properties,
        )
    if back:
        raise Unroutable(f"the dead-letter exchange routed {request.id} to no queue: {back[0]}")
