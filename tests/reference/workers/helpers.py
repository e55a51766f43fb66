"""Plain helpers for the worker tests: jobs on a given day, queues, buckets, waits."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from botocore.exceptions import ClientError
from kombu import Connection, Producer

from harness.stack.processes import ManagedProcess
from harness.stack.waits import wait_for
from reference.analytics.days import TIMEZONE
from reference.common import storage, topology
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.models import Analysis, Job, JobStatus


def seoul(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TIMEZONE).astimezone(UTC)


def add_analysis(settings: Settings, category: str) -> uuid.UUID:
    with session_scope(settings.database_url) as session:
        analysis = Analysis(
            content_key=uuid.uuid4().hex * 2,
            mode="analyze",
            item="item",
            category=category,
            disposal_steps=["step"],
            model="gpt-4o",
            raw_answer={},
        )
        session.add(analysis)
        session.flush()
        return analysis.id


def add_job(
    settings: Settings,
    created: datetime,
    status: JobStatus = JobStatus.DONE,
    *,
    analysis_id: uuid.UUID | None = None,
    cache_hit: bool | None = None,
    processing_ms: float | None = None,
    error_code: str | None = None,
) -> uuid.UUID:
    """A job created at ``created``; a done job finishes ``processing_ms`` after queueing."""
    queued = created if status != JobStatus.AWAITING_UPLOAD else None
    finished = None
    if status.terminal:
        finished = created + timedelta(milliseconds=processing_ms or 0)
    with session_scope(settings.database_url) as session:
        job = Job(
            mode="analyze",
            status=status.value,
            content_type="image/jpeg",
            object_key="uploads/x.jpeg",
            analysis_id=analysis_id,
            cache_hit=cache_hit,
            error_code=error_code,
            created_at=created,
            queued_at=queued,
            finished_at=finished,
        )
        session.add(job)
        session.flush()
        return job.id


def depths(settings: Settings) -> dict[str, tuple[int, int]]:
    """Queue -> (ready messages, consumers)."""
    with Connection(settings.broker_url, connect_timeout=5) as conn:
        return {name: (n, c) for name, n, c in topology.iter_depths(conn)}


def purge(settings: Settings, *queues: str) -> None:
    with Connection(settings.broker_url, connect_timeout=5) as conn:
        for spec in topology.QUEUES:
            if not queues or spec.name in queues:
                topology.kombu_queue(spec)(conn.default_channel).purge()


def publish_dead(settings: Settings, body: Any, **headers: Any) -> None:
    """Put a message straight into q.dlq (through the dead-letter exchange)."""
    with Connection(settings.broker_url, connect_timeout=5) as conn:
        Producer(conn.default_channel).publish(
            body,
            exchange=topology.DEAD_LETTER_EXCHANGE,
            routing_key=topology.DEAD_LETTER_ROUTING_KEY,
            headers=headers,
            serializer="json",
        )


def wait_for_consumers(
    settings: Settings, process: ManagedProcess, queues: tuple[str, ...], timeout: float = 60
) -> None:
    wait_for(
        lambda: all(depths(settings)[q][1] > 0 for q in queues),
        timeout=timeout,
        interval=0.2,
        describe=f"{process.name} consuming {', '.join(queues)}",
        abort=process.death,
    )


def create_bucket(settings: Settings, bucket: str) -> None:
    try:
        storage.s3_client(settings).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": settings.s3_region}
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def delete_bucket(settings: Settings, bucket: str) -> None:
    client = storage.s3_client(settings)
    try:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return
        raise
    for item in listed:
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
