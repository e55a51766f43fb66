"""The Celery app factory: broker, queues and routes all come from settings and the topology."""

from __future__ import annotations

from celery import Celery

from reference.common import topology
from reference.common.settings import Settings, get_settings
from reference.workers import beat

# Every module that defines tasks; workers import them all, consume only their queues.
TASK_MODULES = (
    "reference.waste.tasks",
    "reference.workers.batch",
    "reference.workers.sched",
    "reference.locations.tasks",
    "reference.auth.tasks",
)


def task_routes() -> dict[str, dict[str, str]]:
    return {
        task: {"queue": spec.name, "routing_key": topology.routing_key_for_task(task)}
        for spec in topology.QUEUES
        for task in spec.tasks
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("wastecoach", include=list(TASK_MODULES))
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.publish_timeout_seconds,
        # Publisher confirms: upload-complete answers only once RabbitMQ holds the message.
        broker_transport_options={"confirm_publish": True},
        result_backend=settings.redis_url,
        result_backend_transport_options={"global_keyprefix": f"{settings.redis_prefix}celery:"},
        result_expires=3600,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=topology.kombu_queues(),
        task_default_exchange=topology.EXCHANGE,
        task_default_exchange_type="topic",
        task_routes=task_routes(),
        # A task's message is acknowledged only when it finished, and given back if the worker
        # dies; failures are rejected to the dead-letter queue by the tasks themselves.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone=beat.TIMEZONE,
        beat_schedule=beat.beat_schedule(settings),
    )
    return app


app = create_celery()
