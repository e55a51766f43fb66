"""The AI worker (``python -m reference.workers run ai``) against S3, Redis and PostgreSQL made
unavailable mid-job through TCP proxies the test controls (the shared servers behind them are
never touched): a dependency back in time finishes the job; one that stays down past the
retries fails the job with its reason and dead-letters the message to q.dlq."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kombu import Connection

from harness.stack.processes import ManagedProcess
from harness.stack.sandbox import Sandbox, ServerUrls
from harness.stack.waits import wait_for
from reference import migrations
from reference.common import bucket, topology
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.gateway import app
from reference.waste.models import Job, JobStatus
from reference.workers.dlq import DeadLetterQueue
from tests.factories import LOG_DIR, MockOpenAIServer, photo
from tests.proxy import TcpProxy
from tests.reference.waste.conftest import bearer, put_photo
from tests.reference.workers.helpers import purge, wait_for_consumers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Retries at 1 s, then 2 s apart: about 7 s from the first failure to the dead letter.
MAX_RETRIES = 4


@pytest.fixture(scope="module")
def box(servers: ServerUrls) -> Iterator[Sandbox]:
    with Sandbox(servers) as box:
        migrations.upgrade(box.database_url)
        with Connection(box.broker_url) as conn:
            topology.declare(conn)
        yield box


@pytest.fixture(scope="module")
def direct(box: Sandbox, moto_url: str, mock_openai: MockOpenAIServer) -> Settings:
    """What the test (the API) uses: the servers themselves."""
    settings = box.settings(s3_endpoint_url=moto_url, openai_base_url=mock_openai.base_url)
    bucket.ensure(settings)
    return settings


@pytest.fixture(scope="module")
def proxies(direct: Settings) -> Iterator[dict[str, TcpProxy]]:
    assert direct.s3_endpoint_url is not None
    made = {
        "s3": TcpProxy.for_url(direct.s3_endpoint_url, 80),
        "redis": TcpProxy.for_url(direct.redis_url, 6379),
        "postgres": TcpProxy.for_url(direct.database_url, 5432),
    }
    yield made
    for proxy in made.values():
        proxy.close()


@pytest.fixture(scope="module")
def worker(direct: Settings, proxies: dict[str, TcpProxy]) -> Iterator[Settings]:
    """An AI worker reaching S3, Redis and PostgreSQL only through the proxies."""
    assert direct.s3_endpoint_url is not None
    settings = direct.model_copy(
        update={
            "s3_endpoint_url": proxies["s3"].url(direct.s3_endpoint_url),
            "redis_url": proxies["redis"].url(direct.redis_url),
            "database_url": proxies["postgres"].url(direct.database_url),
            "ai_max_retries": MAX_RETRIES,
            "ai_retry_backoff_seconds": 1.0,
            "ai_retry_backoff_max_seconds": 2.0,
            "openai_backoff_initial_seconds": 0.01,
            "openai_backoff_max_seconds": 0.05,
        }
    )
    process = ManagedProcess.python_module(
        f"worker-ai-{uuid.uuid4().hex[:6]}", "reference.workers", ["run", "ai"],
        settings.to_env(), LOG_DIR,
    ).start()  # fmt: skip
    try:
        wait_for_consumers(direct, process, (topology.AI.name,))
        yield settings
    finally:
        process.stop()


@pytest.fixture
def client(direct: Settings, worker: Settings) -> Iterator[TestClient]:
    purge(direct)
    app.dependency_overrides[get_settings] = lambda: direct
    try:
        with TestClient(app, headers=bearer(direct)) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


def submit(client: TestClient) -> uuid.UUID:
    job = client.post("/api/v1/waste/analyze", json={"mode": "analyze"}).json()
    put_photo(job, photo("tuna_can", seed=uuid.uuid4().int % 100_000))
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202
    return uuid.UUID(job["job_id"])


def stored(settings: Settings, job_id: uuid.UUID) -> Job:
    with session_scope(settings.database_url) as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def dead_ids(settings: Settings) -> list[str | None]:
    return [letter.id for letter in DeadLetterQueue(settings).list()]


@pytest.mark.parametrize("dependency", ["s3", "redis", "postgres"])
def test_a_dependency_down_mid_job_then_back_finishes_the_job(
    client: TestClient, direct: Settings, proxies: dict[str, TcpProxy], dependency: str
) -> None:
    proxies[dependency].down()
    try:
        job_id = submit(client)
        wait_for(
            lambda: proxies[dependency].refused > 0,
            timeout=30,
            describe=f"the worker to meet {dependency} down",
        )
    finally:
        proxies[dependency].up()
    done = wait_for(
        lambda: (job := stored(direct, job_id)).status == JobStatus.DONE.value and job,
        timeout=60,
        describe=f"the job to finish once {dependency} is back",
    )
    assert done.error_code is None
    answer = client.get(f"/api/v1/waste/result/{job_id}")
    assert answer.status_code == 200 and answer.json()["result"]["category"] == "metal"
    assert str(job_id) not in dead_ids(direct)


@pytest.mark.parametrize(
    ("dependency", "code"), [("s3", "storage_unavailable"), ("redis", "redis_unavailable")]
)
def test_a_dependency_down_past_the_retries_fails_the_job_to_the_dlq(
    client: TestClient, direct: Settings, proxies: dict[str, TcpProxy], dependency: str, code: str
) -> None:
    proxies[dependency].down()
    try:
        job_id = submit(client)
        wait_for(
            lambda: str(job_id) in dead_ids(direct),
            timeout=60,
            describe="the message in q.dlq",
        )
    finally:
        proxies[dependency].up()
    job = stored(direct, job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED.value, code)
    assert "gave up after retries" in (job.error_message or "")
    # Retried, not redelivered: one delivery per attempt, none counted as poison.
    assert job.deliveries == MAX_RETRIES + 1
    body = client.get(f"/api/v1/waste/result/{job_id}").json()
    assert (body["status"], body["error"]["code"]) == ("failed", code)
    # Redis may hold a stale live view (it was down as the job failed); the reconcile repairs it.
    DeadLetterQueue(direct).reconcile()
    assert client.get(f"/api/v1/waste/status/{job_id}").json()["status"] == "failed"


def test_postgres_down_past_the_retries_is_failed_from_the_dlq_once_back(
    client: TestClient, direct: Settings, proxies: dict[str, TcpProxy]
) -> None:
    proxies["postgres"].down()
    try:
        job_id = submit(client)
        wait_for(
            lambda: str(job_id) in dead_ids(direct),
            timeout=60,
            describe="the message in q.dlq",
        )
        assert stored(direct, job_id).status == JobStatus.QUEUED.value  # nothing could mark it
    finally:
        proxies["postgres"].up()
    reconciled = DeadLetterQueue(direct).reconcile()
    assert str(job_id) in reconciled.job_ids
    job = stored(direct, job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED.value, "rejected")
    assert client.get(f"/api/v1/waste/status/{job_id}").json()["status"] == "failed"
