"""Faults a run can inject into its local stack, to prove each gate fails when the property it
guards breaks (and for SREs to rehearse incidents): ``wastecoach run smoke --fault drop-jobs``.

Each fault is a context manager started once the stack is up and the load is about to begin,
and stopped when the load ends. They act from outside the reference, as real incidents would:

- ``drop-jobs``: a rogue consumer on q.ai (a stale deployment) acks messages and does nothing;
  those jobs never end (guarded by ``lost_jobs``).
- ``poison-flood``: 120 messages no worker can process are published to q.ai; they end in
  q.dlq (guarded by ``dlq_length``, alert bound 100).
- ``redis-leak``: 250 Redis connections opened and held, like the result-backend leak
  (guarded by ``redis_clients``).
- ``corrupt-cache``: cached classifications are swapped for other photos' answers, like
  a cache-key collision (guarded by ``wrong_answers`` with ``cache=hit``).
- ``s3-down``: the S3 fake is stopped a few seconds into the load (guarded by ``error_ratio``).

A stack process that exits during the load is a harness failure (exit 2), unless it was meant
to: a fault stops or kills one through :class:`~harness.stack.processes.ManagedProcess`
``stop()`` or ``kill()``, or calls its ``expect_exit()`` first when it makes it crash by other
means.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import redis
from kombu import Connection, Consumer, Queue

from reference.common import topology
from reference.common.cache import Keys

if TYPE_CHECKING:
    from harness.stack.local import LocalStack

Fault = Callable[["LocalStack"], AbstractContextManager[None]]

POISON_MESSAGES = 120
LEAKED_CONNECTIONS = 250


@contextlib.contextmanager
def _in_background(name: str, work: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run ``work(stop)`` on a thread while the context is open; ``stop`` is set on exit."""
    stop = threading.Event()
    thread = threading.Thread(target=work, args=(stop,), name=f"fault-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def _settings(stack: LocalStack):
    assert stack.settings is not None, "faults need a started local stack"
    return stack.settings


@contextlib.contextmanager
def drop_jobs(stack: LocalStack) -> Iterator[None]:
    """A consumer on q.ai that acks every message it gets without processing it."""
    settings = _settings(stack)
    stop = threading.Event()
    ready = threading.Event()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with Connection(settings.broker_url, connect_timeout=5) as conn:
                queue = Queue(topology.AI.name, no_declare=True)
                with Consumer(conn, [queue], callbacks=[lambda _b, m: m.ack()], prefetch_count=1):
                    ready.set()
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            conn.drain_events(timeout=0.2)
        except BaseException as exc:  # reported by the context manager
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=consume, name="fault-drop-jobs", daemon=True)
    thread.start()
    ready.wait(10)
    if errors:
        raise RuntimeError(f"fault drop-jobs could not consume q.ai: {errors[0]}")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def poison_flood(stack: LocalStack) -> Iterator[None]:
    """Messages for image.analyze whose job id is not a job: rejected to q.dlq."""
    from reference.workers.app import create_celery

    celery = create_celery(_settings(stack))
    # One producer for the burst: a connection from the pool per message took ~22 ms each on a
    # quiet machine, and on a busy one spread the flood over most of a short run (q.dlq still
    # filling at 97 when a 16 s breaker run ended).
    with celery.producer_or_acquire() as producer:
        for number in range(POISON_MESSAGES):
            celery.send_task(
                "image.analyze",
                args=[f"poison-{number}"],
                task_id=f"poison-{number}",
                producer=producer,
            )
    yield


@contextlib.contextmanager
def redis_leak(stack: LocalStack) -> Iterator[None]:
    """Connections opened and held for the whole load."""
    settings = _settings(stack)
    held = []
    try:
        for _ in range(LEAKED_CONNECTIONS):
            client = redis.Redis.from_url(settings.redis_url, single_connection_client=True)
            client.ping()
            held.append(client)
        yield
    finally:
        for client in held:
            client.close()


@contextlib.contextmanager
def corrupt_cache(stack: LocalStack, interval: float = 0.5) -> Iterator[None]:
    """Every ``interval`` s, give each new cached classification another photo's answer (one
    of a different category when there is one), as a cache-key collision would."""
    settings = _settings(stack)
    client = redis.Redis.from_url(settings.redis_url)
    pattern = Keys(settings.redis_prefix).classification("*", "*")
    corrupted: set[bytes] = set()
    answers: dict[bytes, bytes] = {}  # each key's true answer, as first seen

    def category(raw: bytes) -> str | None:
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data.get("category") if isinstance(data, dict) else None

    def swap() -> None:
        for key in client.scan_iter(match=pattern, count=500):
            if key not in answers and (raw := client.get(key)) and category(raw):
                answers[key] = raw
        for key, own in answers.items():
            if key in corrupted:
                continue
            others = [raw for k, raw in answers.items() if k != key]
            other = next((r for r in others if category(r) != category(own)), None)
            if other is not None:
                client.set(key, other, keepttl=True)
                corrupted.add(key)

    def loop(stop: threading.Event) -> None:
        while not stop.wait(interval):
            with contextlib.suppress(redis.RedisError):
                swap()

    try:
        with _in_background("corrupt-cache", loop):
            yield
    finally:
        client.close()


@contextlib.contextmanager
def s3_down(stack: LocalStack, after: float = 3.0) -> Iterator[None]:
    """Stop the S3 fake ``after`` seconds into the load (uploads and downloads then fail)."""

    def kill(stop: threading.Event) -> None:
        if not stop.wait(after):
            stack.processes["s3"].stop()

    with _in_background("s3-down", kill):
        yield


FAULTS: dict[str, Fault] = {
    "drop-jobs": drop_jobs,
    "poison-flood": poison_flood,
    "redis-leak": redis_leak,
    "corrupt-cache": corrupt_cache,
    "s3-down": s3_down,
}


def fault(name: str) -> Fault:
    """The fault called ``name``; ``KeyError`` lists the known ones."""
    try:
        return FAULTS[name]
    except KeyError:
        raise KeyError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}") from None
