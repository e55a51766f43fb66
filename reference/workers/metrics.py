"""Queue depths as Prometheus gauges, the DLQ's among them (the seed alerts above 100), and
Redis's connected clients (a leaked result-backend pool once reached ~900).

Workers run a ``QueueSampler`` thread while they serve metrics; services call
``sample_queues`` (or start the same sampler) before rendering ``/metrics``. Depths are read by
passive declaration (messages ready; those held by a consumer or a DLQ walk are not counted).
"""

from __future__ import annotations

import logging
import threading

import redis
from kombu import Connection
from prometheus_client import Gauge

from reference.common import topology
from reference.common.settings import Settings
from reference.common.telemetry import QUEUE_DEPTH

log = logging.getLogger(__name__)

# "mostrecent": in a prefork worker's multiprocess mode, one series (the last sample), not one
# per process; ignored elsewhere.
DLQ_MESSAGES = Gauge(
    "wastecoach_dlq_messages",
    "Messages waiting in the dead-letter queue q.dlq when last sampled (alert above 100).",
    multiprocess_mode="mostrecent",
)
QUEUE_SAMPLE_FAILED = Gauge(
    "wastecoach_queue_sample_failed",
    "1 when the last attempt to read the queue depths failed, else 0.",
    multiprocess_mode="mostrecent",
)


REDIS_CLIENTS = Gauge(
    "wastecoach_redis_connected_clients",
    "Redis connected_clients (INFO clients) when last sampled.",
    multiprocess_mode="mostrecent",
)
REDIS_SAMPLE_FAILED = Gauge(
    "wastecoach_redis_sample_failed",
    "1 when the last attempt to read Redis's client count failed, else 0.",
    multiprocess_mode="mostrecent",
)


def sample_redis(settings: Settings, timeout: float = 3.0) -> int:
    """Read Redis's connected clients once (on a connection of its own) and set the gauge."""
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            clients = int(client.info("clients")["connected_clients"])
        finally:
            client.close()
    except Exception:
        REDIS_SAMPLE_FAILED.set(1)
        raise
    REDIS_SAMPLE_FAILED.set(0)
    REDIS_CLIENTS.set(clients)
    return clients


def sample_queues(settings: Settings, timeout: float = 3.0) -> dict[str, int]:
    """Read every queue's depth once and set the gauges; returns the depths.

    Raises when the broker does not answer (and records the failure in a gauge)."""
    try:
        with Connection(settings.broker_url, connect_timeout=timeout) as conn:
            channel = conn.channel()
            depths = {}
            for spec in topology.QUEUES:
                _, messages, _ = channel.queue_declare(spec.name, passive=True)
                depths[spec.name] = int(messages)
            channel.close()
    except Exception:
        QUEUE_SAMPLE_FAILED.set(1)
        raise
    QUEUE_SAMPLE_FAILED.set(0)
    for name, messages in depths.items():
        QUEUE_DEPTH.labels(name).set(messages)
    DLQ_MESSAGES.set(depths[topology.DLQ.name])
    return depths


class QueueSampler:
    """A daemon thread sampling the queue depths every ``queue_sample_seconds``.

    Each sample opens and closes its own connection, so a process forked while the sampler
    runs (prefork pool children) never inherits a live broker socket."""

    def __init__(self, settings: Settings, interval: float | None = None) -> None:
        self.settings = settings
        self.interval = interval or settings.queue_sample_seconds
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sample_queues(self.settings)
                self.samples += 1
            except Exception as exc:
                log.warning("queue depth sample failed: %s", exc)
            try:
                sample_redis(self.settings)
            except Exception as exc:
                log.warning("redis clients sample failed: %s", exc)
            self._stop.wait(self.interval)

    def start(self) -> QueueSampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="queue-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


_SAMPLER: QueueSampler | None = None
_SAMPLER_LOCK = threading.Lock()


def ensure_sampler(settings: Settings) -> QueueSampler:
    """The process's one sampler, started on first call (services call it at start-up)."""
    global _SAMPLER
    with _SAMPLER_LOCK:
        if _SAMPLER is None:
            _SAMPLER = QueueSampler(settings).start()
        return _SAMPLER


def install_sampler() -> None:
    """Start the sampler when the worker is ready (after the prefork pool has forked)."""
    from celery.signals import worker_ready, worker_shutdown

    from reference.common.settings import get_settings

    @worker_ready.connect(weak=False)
    def _start(**_: object) -> None:
        ensure_sampler(get_settings())

    @worker_shutdown.connect(weak=False)
    def _stop(**_: object) -> None:
        if _SAMPLER is not None:
            _SAMPLER.stop()
