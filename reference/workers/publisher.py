"""Publishing tasks from the API services (the producers of the seed's queues)."""

from __future__ import annotations

import threading

from celery import Celery
from kombu import Connection

from reference.common import topology
from reference.common.settings import Settings
from reference.workers.app import create_celery


class Publisher:
    """Sends tasks by name with the topology's routes; declares the topology on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery: Celery = create_celery(settings)
        self._declared = False
        self._lock = threading.Lock()

    def _declare_once(self) -> None:
        if self._declared:
            return
        with self._lock:
            if not self._declared:
                with Connection(self.settings.broker_url, connect_timeout=5) as conn:
                    topology.declare(conn)
                self._declared = True

    def __call__(self, task_name: str, job_id: str, priority: int) -> None:
        self._declare_once()
        self.celery.send_task(
            task_name,
            args=[job_id],
            task_id=job_id,
            priority=priority,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
        )


_PUBLISHERS: dict[tuple[str, str, str], Publisher] = {}
_PUBLISHERS_LOCK = threading.Lock()


def publisher_for(settings: Settings) -> Publisher:
    """One publisher (and broker connection pool) per process and broker."""
    key = (settings.broker_url, settings.redis_url, settings.redis_prefix)
    with _PUBLISHERS_LOCK:
        if key not in _PUBLISHERS:
            _PUBLISHERS[key] = Publisher(settings)
        return _PUBLISHERS[key]
