"""A batch worker subprocess (``python -m reference.workers run batch``) on its own sandbox:
database, vhost, Redis prefix and S3 buckets no other test touches, so the worker can consume
for the whole package while other tests reset their topology."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection

from harness.stack.processes import ManagedProcess, free_port
from harness.stack.sandbox import Sandbox, ServerUrls
from reference import migrations
from reference.common import bucket, topology
from reference.common.settings import Settings
from reference.workers.app import create_celery
from reference.workers.dlq import DeadLetterQueue
from tests.factories import LOG_DIR
from tests.reference.workers.helpers import create_bucket, purge, wait_for_consumers


@pytest.fixture(scope="package")
def batch_box(servers: ServerUrls) -> Iterator[Sandbox]:
    with Sandbox(servers) as box:
        migrations.upgrade(box.database_url)
        with Connection(box.broker_url) as conn:
            topology.declare(conn)
        yield box


@pytest.fixture(scope="package")
def batch_settings(batch_box: Sandbox, moto_url: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    settings = batch_box.settings(
        s3_endpoint_url=moto_url,
        s3_bucket=f"wc-images-{tag}",
        s3_reports_bucket=f"wc-reports-{tag}",
        s3_backups_bucket=f"wc-backups-{tag}",
        batch_max_retries=1,
        batch_retry_backoff_seconds=0.05,
        worker_metrics_port=free_port(),
        queue_sample_seconds=0.2,
    )
    bucket.ensure(settings)
    for other in (settings.s3_reports_bucket, settings.s3_backups_bucket):
        create_bucket(settings, other)
    return settings


@pytest.fixture(scope="package")
def batch_worker(batch_settings: Settings) -> Iterator[ManagedProcess]:
    process = ManagedProcess.python_module(
        f"worker-batch-{uuid.uuid4().hex[:6]}",
        "reference.workers",
        ["run", "batch"],
        batch_settings.to_env(),
        LOG_DIR,
    ).start()
    try:
        wait_for_consumers(batch_settings, process, ("q.batch", "q.sched"))
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="package")
def celery_app(batch_settings: Settings) -> Iterator[Celery]:
    """A producer with the worker's settings; results come back through the Redis backend."""
    app = create_celery(batch_settings)
    yield app
    app.close()


@pytest.fixture
def dead_letters(batch_settings: Settings) -> DeadLetterQueue:
    """The package's DLQ, emptied (with the other queues) before each test."""
    purge(batch_settings)
    return DeadLetterQueue(batch_settings)
