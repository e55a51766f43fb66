"""The AI worker's pipeline in-process, against the real servers and the mock OpenAI server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste import analysis
from reference.waste.images import content_key
from reference.waste.models import Job, JobStatus
from tests.factories import MockOpenAIServer, photo
from tests.reference.waste.conftest import put_photo

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fresh_mock(mock_openai: MockOpenAIServer) -> Iterator[MockOpenAIServer]:
    mock_openai.reset()
    yield mock_openai
    mock_openai.reset()


def submitted(client: TestClient, data: bytes, mode: str = "analyze") -> uuid.UUID:
    job = client.post("/api/v1/waste/analyze", json={"mode": mode}).json()
    put_photo(job, data)
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202
    return uuid.UUID(job["job_id"])


def test_a_miss_then_a_hit_for_the_same_photo(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    first = submitted(client, data)
    assert analysis.run(settings, first) == analysis.Outcome(first, JobStatus.DONE, False)
    second = submitted(client, data)
    assert analysis.run(settings, second) == analysis.Outcome(second, JobStatus.DONE, True)
    assert fresh_mock.stats()["calls"] == 1  # the hit never reached the model

    answers = [client.get(f"/api/v1/waste/result/{job}") for job in (first, second)]
    assert [a.status_code for a in answers] == [200, 200]
    miss, hit = (a.json() for a in answers)
    assert miss["result"]["category"] == "metal" and miss["result"]["category_label"] == "캔·고철류"
    assert miss["result"] == hit["result"]  # same analysis served from the cache
    assert (miss["cache_hit"], hit["cache_hit"]) == (False, True)
    assert miss["timings"]["model_ms"] > 0 and hit["timings"]["model_ms"] is None
    assert miss["timings"]["processing_ms"] >= miss["timings"]["model_ms"]
    state = client.get(f"/api/v1/waste/status/{second}").json()
    assert (state["status"], state["stage"], state["progress"]) == ("done", "done", 100)


def test_cache_disabled_asks_the_model_every_time(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    uncached = settings.model_copy(update={"cache_enabled": False})
    data = photo("newspaper", seed=uuid.uuid4().int % 10_000)
    outcomes = [analysis.run(uncached, submitted(client, data)) for _ in range(2)]
    assert [o.cache_hit for o in outcomes] == [False, False]
    assert fresh_mock.stats()["calls"] == 2


def test_model_failure_fails_the_job_with_its_reason(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    fresh_mock.configure(error_rate=1.0)
    job = submitted(client, photo("jeans", seed=uuid.uuid4().int % 10_000))
    with pytest.raises(analysis.JobFailed) as failed:
        analysis.run(settings, job)
    assert failed.value.code == "model_unavailable"
    assert fresh_mock.stats()["calls"] == settings.openai_attempts
    answer = client.get(f"/api/v1/waste/result/{job}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "failed" and body["error"]["code"] == "model_unavailable"
    assert body["result"] is None


def test_an_image_gone_from_the_bucket_fails_the_job(
    client: TestClient, settings: Settings
) -> None:
    job = submitted(client, photo())
    with session_scope(settings.database_url) as session:
        key = session.get(Job, job).object_key
    storage.s3_client(settings).delete_object(Bucket=settings.s3_bucket, Key=key)
    with pytest.raises(analysis.JobFailed, match="image_missing"):
        analysis.run(settings, job)
    assert client.get(f"/api/v1/waste/status/{job}").json()["error"]["code"] == "image_missing"


def test_a_redelivered_finished_job_changes_nothing(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    job = submitted(client, photo("soju_bottle", seed=uuid.uuid4().int % 10_000))
    analysis.run(settings, job)
    get_redis(settings.redis_url).delete(Keys(settings.redis_prefix).job(str(job)))
    assert analysis.run(settings, job).status == JobStatus.DONE
    assert fresh_mock.stats()["calls"] == 1
    # The lost Redis copy was repaired from PostgreSQL.
    assert client.get(f"/api/v1/waste/result/{job}").json()["result"]["category"] == "glass"


def test_a_message_that_keeps_killing_workers_is_failed(
    client: TestClient, settings: Settings
) -> None:
    job = submitted(client, photo())
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job).values(deliveries=analysis.MAX_DELIVERIES))
    with pytest.raises(analysis.JobFailed, match="too_many_deliveries"):
        analysis.run(settings, job)


def test_unknown_job_is_refused(settings: Settings) -> None:
    with pytest.raises(analysis.JobFailed, match="job_not_found"):
        analysis.run(settings, uuid.uuid4())


def test_status_falls_back_to_the_database(client: TestClient, settings: Settings) -> None:
    job = submitted(client, photo())
    get_redis(settings.redis_url).delete(Keys(settings.redis_prefix).job(str(job)))
    state = client.get(f"/api/v1/waste/status/{job}").json()
    assert (state["status"], state["stage"], state["progress"]) == ("queued", "queued", 5)


def test_a_corrupt_cache_entry_is_a_miss_and_is_replaced(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    analysis.run(settings, submitted(client, data))
    redis_client = get_redis(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    [key] = [k for k in redis_client.scan_iter(match=keys.classification("analyze", "*"))
             if k.decode().endswith(content_key(data))]  # fmt: skip
    redis_client.set(key, b"{not json")
    outcome = analysis.run(settings, submitted(client, data))
    assert (outcome.status, outcome.cache_hit) == (JobStatus.DONE, False)
    assert fresh_mock.stats()["calls"] == 2
    assert b"metal" in redis_client.get(key)  # the good answer is cached again


def test_a_transient_error_is_raised_for_the_task_to_retry(
    client: TestClient, settings: Settings
) -> None:
    job = submitted(client, photo())
    unreachable = settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(Exception) as raised:
        analysis.run(unreachable, job)
    assert not isinstance(raised.value, analysis.JobFailed)
    assert analysis.describe_failure(raised.value)[0] == "storage_unavailable"
    with session_scope(settings.database_url) as session:
        assert session.get(Job, job).status == JobStatus.PROCESSING.value  # not failed yet
    # The task's retry is not counted as a delivery that killed a worker.
    for retries in range(1, analysis.MAX_DELIVERIES + 2):
        with pytest.raises(Exception, match="Could not connect"):
            analysis.run(unreachable, job, retries=retries)
    assert analysis.run(settings, job, retries=5).status == JobStatus.DONE


def test_every_result_says_where_its_processing_time_went(
    client: TestClient, settings: Settings
) -> None:
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    jobs = [submitted(client, data) for _ in range(2)]
    for job in jobs:
        analysis.run(settings, job)
    miss, hit = (client.get(f"/api/v1/waste/result/{job}").json()["timings"] for job in jobs)
    for timings in (miss, hit):
        for stage in ("queue_wait_ms", "download_ms", "cache_lookup_ms", "store_ms"):
            assert timings[stage] >= 0, (stage, timings)
        # The stages lie inside the server's processing time (queued to finished).
        stages = ("queue_wait_ms", "download_ms", "cache_lookup_ms", "model_ms", "store_ms")
        assert sum(timings[s] or 0 for s in stages) <= timings["processing_ms"], timings
    assert miss["model_ms"] > 0 and hit["model_ms"] is None


def _replace(settings: Settings, job_id: uuid.UUID, data: bytes) -> None:
    with session_scope(settings.database_url) as session:
        key = session.get(Job, job_id).object_key  # type: ignore[union-attr]
    storage.s3_client(settings).put_object(Bucket=settings.s3_bucket, Key=key, Body=data)


@pytest.mark.parametrize(
    ("replacement", "code"),
    [
        (lambda size: b"\xff\xd8\xff" + bytes(size - 3), "image_changed"),  # same size
        (lambda size: b"\xff\xd8\xff" + bytes(size), "image_changed"),  # larger, in limit
        # Over the limit: refused on its ETag (If-Match), before a byte of it is read.
        (lambda size: b"\xff\xd8\xff" + bytes(11 * 1024 * 1024), "image_changed"),
    ],
)
def test_a_photo_replaced_after_upload_complete_fails_the_job(
    client: TestClient,
    settings: Settings,
    fresh_mock: MockOpenAIServer,
    replacement: Callable[[int], bytes],
    code: str,
) -> None:
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    job_id = submitted(client, data)
    _replace(settings, job_id, replacement(len(data)))
    with pytest.raises(analysis.JobFailed) as failed:
        analysis.run(settings, job_id)
    assert failed.value.code == code
    result = client.get(f"/api/v1/waste/result/{job_id}").json()
    assert result["status"] == "failed" and result["error"]["code"] == code
    assert fresh_mock.stats()["calls"] == 0  # nothing was paid for


def test_a_photo_just_at_the_limit_is_analyzed(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    exact = settings.model_copy(update={"upload_max_bytes": len(data)})
    job_id = submitted(client, data)
    assert analysis.run(exact, job_id).status == JobStatus.DONE


def test_the_worker_reads_no_object_over_its_own_limit(
    client: TestClient, settings: Settings, fresh_mock: MockOpenAIServer
) -> None:
    # The limit shrank after the check (a new deployment): the worker's own bound holds.
    data = photo("tuna_can", seed=uuid.uuid4().int % 10_000)
    job_id = submitted(client, data)
    smaller = settings.model_copy(update={"upload_max_bytes": len(data) - 1})
    with pytest.raises(analysis.JobFailed) as failed:
        analysis.run(smaller, job_id)
    assert failed.value.code == "image_too_large"
    assert fresh_mock.stats()["calls"] == 0
