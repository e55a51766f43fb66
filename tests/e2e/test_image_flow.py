"""The whole image-analysis path as processes: gateway, AI worker (gevent), moto, mock OpenAI,
on the real PostgreSQL, Redis and RabbitMQ, driven over HTTP like the app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kombu import Connection

from harness.app.auth_client import dev_login
from harness.app.client import WasteClient
from harness.stack.local import LocalStack, StackOptions
from harness.stack.sandbox import ServerUrls
from harness.stack.waits import wait_for
from reference.common import topology
from reference.common.db import session_scope
from reference.waste.models import Job
from tests.factories import TEST_OPENAI, photo

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

UPLOAD_LIMIT = 2 * 1024 * 1024  # above every test photo; the oversized object is far above it


@pytest.fixture(scope="module")
def stack(servers: ServerUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        servers=servers,
        run_dir=Path(tmp_path_factory.mktemp("stack")),
        openai_args=("--latency", "fixed:0.05", "--classify-latency", "fixed:0.05"),
        settings_overrides={
            "openai_attempts": 2,
            "openai_backoff_initial_seconds": 0.01,
            "openai_backoff_max_seconds": 0.02,
            "upload_max_bytes": UPLOAD_LIMIT,
        },
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture
def mock_url(stack: LocalStack) -> Iterator[str]:
    base = stack.openai_url.removesuffix("/v1")
    httpx.put(f"{base}/_mock/config", json=TEST_OPENAI).raise_for_status()
    yield base
    httpx.put(f"{base}/_mock/config", json=TEST_OPENAI).raise_for_status()


@pytest.fixture
def broker(stack: LocalStack) -> Iterator[Connection]:
    assert stack.settings is not None
    with Connection(stack.settings.broker_url) as conn:
        dlq = topology.kombu_queue(topology.DLQ)(conn.default_channel)
        dlq.purge()
        yield conn


def depth(broker: Connection, queue: str) -> int:
    return {name: n for name, n, _ in topology.iter_depths(broker)}[queue]


def test_a_photo_is_classified_then_served_from_the_cache(stack: LocalStack, mock_url: str) -> None:
    data = photo("cardboard_box", seed=uuid.uuid4().int % 10_000)
    with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
        miss = client.analyze_photo(data, follow="stream", timeout=30)
        hit = client.analyze_photo(data, follow="poll", poll_interval=0.5, timeout=30)
    assert (miss.status, miss.cache_hit, hit.status, hit.cache_hit) == ("done", False, "done", True)
    assert miss.result is not None and miss.result["category"] == "paper"
    assert hit.result == miss.result
    assert httpx.get(f"{mock_url}/_mock/stats").json()["calls"] == 1
    # Each gateway process counts the requests it served: the route is in one of their /metrics.
    gateways = [url for name, url in stack.metrics_urls.items() if name.startswith("gateway")]
    metrics = "".join(httpx.get(url).text for url in gateways)
    assert 'route="/api/v1/waste/upload-complete/{job_id}"' in metrics


def test_a_poison_task_ends_in_the_dlq_and_its_job_failed(
    stack: LocalStack, mock_url: str, broker: Connection
) -> None:
    httpx.put(
        f"{mock_url}/_mock/config", json={**TEST_OPENAI, "error_rate": 1.0}
    ).raise_for_status()
    with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
        flow = client.analyze_photo(photo("jeans", seed=uuid.uuid4().int % 10_000), timeout=30)
    assert flow.status == "failed"
    assert flow.error is not None and flow.error["code"] == "model_unavailable"
    queue = topology.kombu_queue(topology.DLQ)(broker.default_channel)
    dead = wait_for(lambda: queue.get(no_ack=True), timeout=10, describe="the task in q.dlq")
    assert dead.headers["id"] == flow.job_id
    assert dead.headers["x-death"][0]["queue"] == "q.ai"
    assert dead.headers["x-death"][0]["reason"] == "rejected"


def test_a_malformed_message_is_dead_lettered(stack: LocalStack, broker: Connection) -> None:
    assert stack.settings is not None
    from reference.workers.app import create_celery

    create_celery(stack.settings).send_task("image.analyze", args=["not-a-job"], task_id="bad-1")
    queue = topology.kombu_queue(topology.DLQ)(broker.default_channel)
    dead = wait_for(lambda: queue.get(no_ack=True), timeout=15, describe="the bad task in q.dlq")
    assert dead.headers["id"] == "bad-1"
    assert depth(broker, "q.ai") == 0  # rejected, not requeued


def test_a_worker_killed_mid_task_does_not_lose_the_job(
    stack: LocalStack, mock_url: str, broker: Connection
) -> None:
    assert stack.settings is not None
    slow = {**TEST_OPENAI, "latency": {"kind": "fixed", "seconds": 30.0}}
    httpx.put(f"{mock_url}/_mock/config", json=slow).raise_for_status()
    with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
        job = client.start()
        client.upload(job, photo("mattress", seed=uuid.uuid4().int % 10_000))
        client.complete(job["job_id"])
        wait_for(
            lambda: client.status(job["job_id"])["stage"] == "classifying",
            timeout=20,
            describe="the worker calling the model",
        )
        stack.processes["worker-ai"].kill()
        # The unacknowledged message goes back to q.ai; the job is still open.
        wait_for(lambda: depth(broker, "q.ai") == 1, timeout=20, describe="the task back in q.ai")
        assert client.status(job["job_id"])["status"] == "processing"

        httpx.put(f"{mock_url}/_mock/config", json=TEST_OPENAI).raise_for_status()
        stack.start_worker("ai")
        result = client.wait_polling(job["job_id"], interval=0.2, timeout=30)
    assert result["status"] == "done" and result["result"]["category"] == "bulky"
    with session_scope(stack.settings.database_url) as session:
        assert session.get(Job, uuid.UUID(job["job_id"])).deliveries == 2


def test_a_photo_replaced_after_upload_complete_fails_its_job_not_the_worker(
    stack: LocalStack, mock_url: str
) -> None:
    assert stack.settings is not None
    from reference.common import storage

    stack.processes["worker-ai"].kill()  # so the replacement lands before any download
    with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
        job = client.start()
        client.upload(job, photo("soju_bottle", seed=uuid.uuid4().int % 10_000))
        client.complete(job["job_id"])
        # The bucket's owner (or anyone on moto, or a leaked credential) swaps the checked
        # photo for 40 MB, 20 times the limit.
        oversized = b"\xff\xd8\xff" + bytes(40 * 1024 * 1024)
        storage.s3_client(stack.settings).put_object(
            Bucket=stack.settings.s3_bucket, Key=job["upload"]["fields"]["key"], Body=oversized
        )
        worker = stack.start_worker("ai")
        failed = client.wait_polling(job["job_id"], interval=0.2, timeout=30)
        assert failed["status"] == "failed" and failed["error"]["code"] == "image_changed"
        # The same worker process goes on with honest work.
        after = client.analyze_photo(photo("tuna_can", seed=uuid.uuid4().int % 10_000), timeout=30)
    assert after.status == "done"
    assert worker.alive() and stack.processes["worker-ai"] is worker
