"""The RabbitMQ topology: the one place that names exchanges, queues and their arguments.

Queue arguments cannot change once a queue exists (RabbitMQ answers ``PRECONDITION_FAILED``),
so the Celery app, the harness, the DLQ tooling and the Kubernetes manifests all derive from
this module; ``reset`` deletes and re-declares everything for tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from kombu import Connection, Exchange, Queue

EXCHANGE = "tasks"
DEAD_LETTER_EXCHANGE = "tasks.dlx"
DEAD_LETTER_ROUTING_KEY = "dead"


@dataclass(frozen=True)
class QueueSpec:
    """One queue of the seed's five, with the arguments it is declared with."""

    name: str
    binding: str | None  # topic pattern on EXCHANGE; None for the dead-letter queue
    max_priority: int | None
    ttl_seconds: int | None
    dead_letters: bool
    tasks: tuple[str, ...] = ()

    @property
    def arguments(self) -> dict[str, object]:
        args: dict[str, object] = {}
        if self.max_priority is not None:
            args["x-max-priority"] = self.max_priority
        if self.ttl_seconds is not None:
            args["x-message-ttl"] = self.ttl_seconds * 1000
        if self.dead_letters:
            args["x-dead-letter-exchange"] = DEAD_LETTER_EXCHANGE
            args["x-dead-letter-routing-key"] = DEAD_LETTER_ROUTING_KEY
        return args


AI = QueueSpec("q.ai", "ai.*", 10, 300, True, ("image.analyze", "image.classify"))
BATCH = QueueSpec("q.batch", "batch.*", 1, 3600, True, ("analytics.daily", "report.generate"))
API = QueueSpec("q.api", "api.*", 5, 300, True, ("map.search", "oauth.verify"))
SCHED = QueueSpec(
    "q.sched",
    "sched.*",
    3,
    None,
    False,
    (
        "cleanup.cache",
        "backup.database",
        "stats.aggregate",
        "jobs.reconcile",
        "jobs.expire_uploads",
    ),
)
DLQ = QueueSpec("q.dlq", None, None, None, False)

QUEUES: tuple[QueueSpec, ...] = (AI, BATCH, API, SCHED, DLQ)


def queue_for_task(task_name: str) -> QueueSpec:
    for spec in QUEUES:
        if task_name in spec.tasks:
            return spec
    raise KeyError(f"task {task_name!r} is not routed by the topology")


def routing_key_for_task(task_name: str) -> str:
    """The key a task is published with: its queue's binding prefix and the task's last
    name part (``image.analyze`` -> ``ai.analyze``, as the seed names it)."""
    spec = queue_for_task(task_name)
    assert spec.binding is not None
    return f"{spec.binding.split('.')[0]}.{task_name.split('.')[-1]}"


@dataclass(frozen=True)
class WorkerSpec:
    """A Celery worker deployment: which queues it consumes and how."""

    name: str
    queues: tuple[str, ...]
    pool: Literal["gevent", "prefork", "solo", "threads"]
    concurrency: int
    prefetch_multiplier: int
    replicas: int
    tier: str
    extra_args: tuple[str, ...] = field(default=())


WORKERS: tuple[WorkerSpec, ...] = (
    # The AI worker mostly waits on GPT-4o (2-5 s a call), so its pool is sized by Little's law:
    # the seed's 500 users (a scan in 3 of 5 actions, ~25 s apart) send ~11 scans a second; with
    # honest re-photographs ~80 % of them miss, so ~9 calls a second of ~3.5 s keep ~33 calls in
    # flight on average. A pool of 10 per replica (30) saturated at 500 users (run
    # peak-20261201T160406Z: q.ai waits of 3-10 s one minute in); 40 per replica keeps 120 in
    # flight across the seed's 3 replicas, room for bursts for little CPU.
    WorkerSpec("ai", (AI.name,), "gevent", 40, 2, 3, "async"),
    WorkerSpec("batch", (BATCH.name, SCHED.name), "prefork", 1, 1, 2, "async"),
    WorkerSpec("api", (API.name,), "threads", 4, 4, 2, "api"),
)


def worker(name: str) -> WorkerSpec:
    for spec in WORKERS:
        if spec.name == name:
            return spec
    raise KeyError(f"no worker named {name!r}; known: {', '.join(w.name for w in WORKERS)}")


def exchanges() -> tuple[Exchange, Exchange]:
    return (
        Exchange(EXCHANGE, type="topic", durable=True),
        Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True),
    )


def kombu_queue(spec: QueueSpec) -> Queue:
    tasks_exchange, dlx = exchanges()
    if spec.binding is None:
        return Queue(spec.name, exchange=dlx, routing_key=DEAD_LETTER_ROUTING_KEY, durable=True)
    return Queue(
        spec.name,
        exchange=tasks_exchange,
        routing_key=spec.binding,
        queue_arguments=spec.arguments,
        max_priority=spec.max_priority,
        durable=True,
    )


def kombu_queues() -> list[Queue]:
    return [kombu_queue(spec) for spec in QUEUES]


def declare(connection: Connection) -> None:
    """Declare both exchanges, all five queues and their bindings (idempotent)."""
    channel = connection.default_channel
    for exchange in exchanges():
        exchange(channel).declare()
    for queue in kombu_queues():
        queue(channel).declare()


def reset(connection: Connection) -> None:
    """Delete every queue and exchange of the topology, then declare them afresh.

    Only for tests and local stacks: messages in the queues are dropped.
    """
    channel = connection.default_channel
    for queue in kombu_queues():
        queue(channel).delete()
    for exchange in exchanges():
        exchange(channel).delete()
    declare(connection)


def iter_depths(connection: Connection) -> Iterator[tuple[str, int, int]]:
    """Yield (queue, ready messages, consumers) by passive declaration (changes nothing)."""
    channel = connection.default_channel
    for spec in QUEUES:
        name, messages, consumers = channel.queue_declare(spec.name, passive=True)
        yield name, messages, consumers
