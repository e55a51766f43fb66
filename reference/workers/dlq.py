"""The dead-letter queue ``q.dlq``: list, inspect, requeue, purge, and reconcile the jobs of
dead ``q.ai`` messages.

How the queue is read without losing anything: over AMQP (port 5672, the only one the seed's
NetworkPolicy opens to workers; the management API's "get messages" does the same thing behind
an HTTP port and truncates payloads), one channel takes the messages with ``basic.get`` and no
ack, holding each one unacknowledged until the walk ends, so none is seen twice; then every
message not removed is returned with ``basic.reject(requeue)``. RabbitMQ puts a
requeued message back at its original position in a classic queue, so the order survives and
listing twice gives the same list. While a walk holds them, the messages are invisible to any
other reader (a second tool run at the same time sees only the rest, and the depth gauge dips);
if the tool dies, the broker requeues them when its connection closes. Messages are removed only
by ``basic.ack`` after what replaces them (the republished copy) is confirmed by the broker, so
a crash in between can duplicate a requeued task, never lose it (the tasks are idempotent).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Producer
from kombu.message import Message

from reference.common import topology
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.models import Job, JobStatus

# Properties of the original message that a requeued copy keeps (headers are kept whole). Not
# ``expiration``: a per-message TTL already spent would dead-letter the copy at once.
KEPT_PROPERTIES = ("priority", "correlation_id", "reply_to", "message_id")


class DlqError(RuntimeError):
    """A DLQ operation could not be done; the message says what and why."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of the DLQ, with where it died and why (from RabbitMQ's ``x-death``)."""

    id: str | None
    task: str | None
    queue: str | None
    exchange: str | None
    routing_key: str | None
    reason: str | None
    count: int
    first_death: datetime | None
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    error: str | None
    headers: dict[str, Any] = field(repr=False)
    properties: dict[str, Any] = field(repr=False)
    body: bytes = field(repr=False)
    content_type: str | None = field(repr=False)
    content_encoding: str | None = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "queue": self.queue,
            "routing_key": self.routing_key,
            "reason": self.reason,
            "count": self.count,
            "first_death": self.first_death.isoformat() if self.first_death else None,
            "args": self.args,
            "kwargs": self.kwargs,
            "error": self.error,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "exchange": self.exchange,
            "headers": _plain(self.headers),
            "properties": _plain(
                {k: v for k, v in self.properties.items() if k != "application_headers"}
            ),
            "content_type": self.content_type,
            "body_bytes": len(self.body),
        }


def _plain(value: Any) -> Any:
    """Headers as JSON can show them (x-death carries timestamps)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def _utc(value: datetime) -> datetime:
    # py-amqp decodes AMQP timestamps as naive UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _decode_body(
    body: bytes, content_type: str | None, headers: dict[str, Any]
) -> tuple[list[Any] | None, dict[str, Any] | None]:
    if content_type != "application/json" or headers.get("compression"):
        return None, None
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if isinstance(data, list) and len(data) >= 2:  # Celery task protocol 2
        return list(data[0]), dict(data[1])
    if isinstance(data, dict) and "args" in data:  # protocol 1
        return list(data["args"]), dict(data.get("kwargs") or {})
    return None, None


def _body_bytes(message: Message) -> bytes:
    body = message.body
    # py-amqp hands over text when the message names its content encoding.
    return body.encode(message.content_encoding or "utf-8") if isinstance(body, str) else body


def parse(message: Message) -> DeadLetter:
    headers = dict(message.headers or {})
    properties = dict(message.properties or {})
    deaths = [d for d in headers.get("x-death") or [] if isinstance(d, dict)]
    last = deaths[0] if deaths else {}
    keys = last.get("routing-keys") or []
    times = [_utc(d["time"]) for d in deaths if isinstance(d.get("time"), datetime)]
    args, kwargs = _decode_body(message.body, message.content_type, headers)
    return DeadLetter(
        id=headers.get("id") or properties.get("correlation_id") or properties.get("message_id"),
        task=headers.get("task"),
        queue=last.get("queue") or headers.get("x-first-death-queue"),
        exchange=last.get("exchange"),
        routing_key=keys[0] if keys else None,
        reason=last.get("reason") or headers.get("x-first-death-reason"),
        count=sum(int(d.get("count", 1)) for d in deaths),
        first_death=min(times) if times else None,
        args=args,
        kwargs=kwargs,
        error=headers.get("x-wastecoach-error"),
        headers=headers,
        properties=properties,
        body=_body_bytes(message),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
    )


Match = Callable[[DeadLetter], bool]


def matching(ids: list[str] | None = None, task: str | None = None) -> Match:
    """Select by task ids, or by task name, or (neither given) everything."""
    wanted = set(ids or ())
    return lambda letter: (
        (not wanted or letter.id in wanted) and (task is None or letter.task == task)
    )


class DeadLetterQueue:
    """Operations on ``q.dlq`` of one broker (vhost)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _connection(self) -> Connection:
        return Connection(
            self.settings.broker_url,
            connect_timeout=5,
            transport_options={"confirm_publish": True},
        )

    @contextmanager
    def _walk(self, limit: int | None = None) -> Iterator[Iterator[tuple[Message, DeadLetter]]]:
        """Messages of the DLQ, each held unacknowledged; the unremoved go back at the end."""
        with self._connection() as conn:
            channel = conn.channel()
            queue = topology.kombu_queue(topology.DLQ)(channel)
            # Only what is there now: a requeued task that fails again at once comes back to
            # the tail while we walk, and must not be requeued again in the same walk.
            _, present, _ = channel.queue_declare(topology.DLQ.name, passive=True)
            budget = present if limit is None else min(limit, present)
            held: list[Message] = []

            def messages() -> Iterator[tuple[Message, DeadLetter]]:
                while len(held) < budget:
                    message = queue.get(no_ack=False, accept=None)
                    if message is None:
                        return
                    held.append(message)
                    yield message, parse(message)

            try:
                yield messages()
            finally:
                if channel.is_open:
                    for message in held:
                        if not message.acknowledged:
                            message.reject(requeue=True)
                channel.close()

    # -- reading ---------------------------------------------------------------------------
    def depth(self) -> int:
        with self._connection() as conn:
            _, messages, _ = conn.default_channel.queue_declare(topology.DLQ.name, passive=True)
            return int(messages)

    def list(self, match: Match | None = None, limit: int | None = 1000) -> list[DeadLetter]:
        with self._walk(limit) as walk:
            return [letter for _, letter in walk if match is None or match(letter)]

    def show(self, message_id: str) -> DeadLetter:
        with self._walk() as walk:
            for _, letter in walk:
                if letter.id == message_id:
                    return letter
        raise DlqError(f"no message with id {message_id} in {topology.DLQ.name}")

    # -- changing --------------------------------------------------------------------------
    def requeue(self, match: Match) -> list[DeadLetter]:
        """Republish the matching messages where they died (same exchange, routing key,
        headers and properties), each removed from the DLQ once the broker confirmed its copy."""
        done: list[DeadLetter] = []
        with self._connection() as conn, self._walk() as walk:
            returned: list[str] = []

            def on_return(exc: Exception, exchange: str, routing_key: str, _: Any) -> None:
                returned.append(f"{exc} (exchange {exchange!r}, key {routing_key!r})")

            producer = Producer(conn.channel(), on_return=on_return)
            for message, letter in walk:
                if not match(letter):
                    continue
                exchange, routing_key = _destination(letter)
                properties = {
                    k: letter.properties[k] for k in KEPT_PROPERTIES if k in letter.properties
                }
                producer.publish(
                    letter.body,
                    exchange=exchange,
                    routing_key=routing_key,
                    headers=letter.headers,
                    content_type=letter.content_type,
                    content_encoding=letter.content_encoding,
                    delivery_mode=2,
                    mandatory=True,
                    **properties,
                )  # waits for the broker's confirm
                if returned:
                    raise DlqError(
                        f"{letter.id}: the broker could not route the copy: {returned[0]}; "
                        "it stays in the DLQ"
                    )
                message.ack()
                done.append(letter)
        return done

    def purge(self, match: Match | None = None) -> int:
        """Delete messages for good: all (``match`` None) or the matching ones."""
        if match is None:
            with self._connection() as conn:
                queue = topology.kombu_queue(topology.DLQ)(conn.default_channel)
                return int(queue.purge() or 0)
        removed = 0
        with self._walk() as walk:
            for message, letter in walk:
                if match(letter):
                    message.ack()
                    removed += 1
        return removed

    def reconcile(self) -> Reconciled:
        """Fail the jobs of dead ``q.ai`` messages that never finished (expired in the queue
        before any worker took them, for instance), so no accepted job hangs. The messages
        stay in the DLQ."""
        # Imported here: the pipeline pulls in the openai SDK, which the other commands need not.
        from reference.waste import analysis

        result = Reconciled()
        with self._walk() as walk:
            for _, letter in walk:
                if not _is_ai(letter):
                    continue
                result.examined += 1
                job_id = _job_id(letter)
                if job_id is None:
                    result.unknown += 1
                    continue
                with session_scope(self.settings.database_url) as session:
                    job = session.get(Job, job_id)
                    status = JobStatus(job.status) if job is not None else None
                if status is None:
                    result.unknown += 1
                elif status.terminal:
                    # Its Redis copy may be stale (Redis was down when it finished): repair it.
                    analysis.repair_result(self.settings, job_id)
                    result.already_terminal += 1
                else:
                    reason = letter.reason or "dead_lettered"
                    analysis.fail_job(
                        self.settings,
                        job_id,
                        reason,
                        f"the {letter.task} task was dead-lettered from {letter.queue} "
                        f"({reason}) before the job finished",
                    )
                    result.failed += 1
                    result.job_ids.append(str(job_id))
        return result


@dataclass
class Reconciled:
    examined: int = 0
    failed: int = 0
    already_terminal: int = 0
    unknown: int = 0
    job_ids: list[str] = field(default_factory=list)


def _destination(letter: DeadLetter) -> tuple[str, str]:
    if letter.exchange is not None and letter.routing_key is not None:
        return letter.exchange, letter.routing_key
    if letter.task is not None:  # dead-lettered without x-death: route it by its task name
        try:
            return topology.EXCHANGE, topology.routing_key_for_task(letter.task)
        except KeyError:
            pass
    raise DlqError(f"{letter.id}: no x-death and no known task; cannot tell where it came from")


def _is_ai(letter: DeadLetter) -> bool:
    return letter.queue == topology.AI.name or letter.task in topology.AI.tasks


def _job_id(letter: DeadLetter) -> uuid.UUID | None:
    """The job of an ``image.*`` message: its first argument (``publisher.Publisher``)."""
    value = (letter.args or [None])[0] if letter.args else (letter.kwargs or {}).get("job_id")
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def reconcile(settings: Settings) -> Reconciled:
    return DeadLetterQueue(settings).reconcile()
