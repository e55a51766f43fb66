"""Publishing tasks from the API services (the producers of the seed's queues).

A publish is done only when the broker confirmed it (publisher confirms, waited for at most
``publish_timeout_seconds``) and a queue took it: it is sent ``mandatory``, so a message that
no queue is bound to take comes back (``basic.return``, before the confirm) and raises
:class:`Unroutable` instead of being confirmed and dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from kombu import Connection, Producer

from reference.common import topology
from reference.common.settings import Settings
from reference.workers.app import create_celery


class Unroutable(RuntimeError):
    """The broker confirmed a message but no queue took it."""


@contextmanager
def returned_messages(producer: Producer) -> Iterator[list[str]]:
    """Collect the messages the broker returns to ``producer`` while the block runs.

    Registered as the channel's handler: without one, py-amqp raises out of the confirm wait
    and leaves the confirm itself unread, for the next publish on that channel to mistake as its
    own.
    """
    returned: list[str] = []

    def on_return(exc: Exception, exchange: str, routing_key: str, _: Any) -> None:
        returned.append(f"{exc} (exchange {exchange!r}, routing key {routing_key!r})")

    previous = producer.on_return
    producer.on_return = on_return  # also re-registered if kombu revives the channel
    events = producer.channel.events["basic_return"]
    events.add(on_return)
    try:
        yield returned
    finally:
        producer.on_return = previous
        events.discard(on_return)


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
        timeout = self.settings.publish_timeout_seconds
        pool = self.celery.producer_pool
        with (
            pool.acquire(block=True, timeout=timeout) as producer,
            returned_messages(producer) as back,
        ):
            self.celery.send_task(
                task_name,
                args=[job_id],
                task_id=job_id,
                priority=priority,
                producer=producer,
                mandatory=True,
                # The topology is declared above, once; declaring again on every publish
                # would also hide a queue that went missing.
                declare=[],
                timeout=timeout,
                confirm_timeout=timeout,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
            )
        if back:
            self._declared = False  # declare the topology again before the next publish
            raise Unroutable(f"no queue took {task_name} for job {job_id}: {back[0]}")


_PUBLISHERS: dict[tuple[str, str, str], Publisher] = {}
_PUBLISHERS_LOCK = threading.Lock()


def publisher_for(settings: Settings) -> Publisher:
    """One publisher (and broker connection pool) per process and broker."""
    key = (settings.broker_url, settings.redis_url, settings.redis_prefix)
    with _PUBLISHERS_LOCK:
        if key not in _PUBLISHERS:
            _PUBLISHERS[key] = Publisher(settings)
        return _PUBLISHERS[key]
