"""waste-service over HTTP against real PostgreSQL, Redis, RabbitMQ and moto's S3."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kombu import Connection

from harness.stack.waits import wait_for
from reference.common import storage, topology
from reference.common.cache import Keys, get_redis
from reference.common.settings import Settings
from reference.gateway import app
from reference.waste import analysis
from reference.waste.api import get_publisher
from tests.factories import photo
from tests.reference.waste.conftest import put_photo

pytestmark = pytest.mark.integration


def ai_depth(broker: Connection) -> int:
    return {name: n for name, n, _ in topology.iter_depths(broker)}["q.ai"]


def start(client: TestClient, **body: object) -> dict:
    answer = client.post("/api/v1/waste/analyze", json=body or {"content_type": "image/jpeg"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_analyze_gives_a_presigned_post(client: TestClient, settings: Settings) -> None:
    job = start(client)
    assert job["status"] == "awaiting_upload"
    upload = job["upload"]
    assert upload["method"] == "POST" and upload["fields"]["Content-Type"] == "image/jpeg"
    assert upload["fields"]["key"].startswith("uploads/") and "x-amz-signature" in upload["fields"]
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, settings.upload_max_bytes] in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert upload["max_bytes"] == settings.upload_max_bytes
    assert job["links"]["result"] == f"/api/v1/waste/result/{job['job_id']}"
    status = client.get(job["links"]["status"]).json()
    assert (status["status"], status["stage"], status["progress"]) == (
        "awaiting_upload",
        "awaiting_upload",
        0,
    )


def test_upload_complete_queues_one_task_even_when_repeated(
    client: TestClient, broker: Connection
) -> None:
    job = start(client)
    assert put_photo(job, photo()).status_code == 204
    first = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert first.status_code == 202 and first.json() == {
        "job_id": job["job_id"],
        "status": "queued",
        "duplicate": False,
    }
    again = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert again.status_code == 202 and again.json()["duplicate"] is True
    wait_for(lambda: ai_depth(broker) == 1, timeout=10, describe="one message in q.ai")
    message = topology.kombu_queue(topology.AI)(broker.default_channel).get(no_ack=True)
    assert message.headers["task"] == "image.analyze"
    assert message.headers["id"] == job["job_id"]
    assert message.properties["priority"] == 10
    assert message.delivery_info["routing_key"] == "ai.analyze"
    assert ai_depth(broker) == 0  # the repeated call published nothing
    result = client.get(f"/api/v1/waste/result/{job['job_id']}")
    assert result.status_code == 202 and result.json()["status"] == "queued"


def test_classify_mode_publishes_image_classify(client: TestClient, broker: Connection) -> None:
    job = start(client, content_type="image/jpeg", mode="classify")
    put_photo(job, photo())
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202
    queue = topology.kombu_queue(topology.AI)(broker.default_channel)
    message = wait_for(lambda: queue.get(no_ack=True), timeout=10, describe="message in q.ai")
    assert message.headers["task"] == "image.classify"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (None, 409, "upload_missing"),
        (b"%PDF-1.7 not an image at all", 415, "upload_not_image"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_queued(
    client: TestClient, broker: Connection, data: bytes | None, status: int, code: str
) -> None:
    job = start(client)
    if data is not None:
        put_photo(job, data)
    answer = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == status and answer.json()["code"] == code
    assert client.get(f"/api/v1/waste/status/{job['job_id']}").json()["status"] == "awaiting_upload"
    assert ai_depth(broker) == 0
    # The app can still fix the upload and go on: the job is not lost.
    put_photo(job, photo())
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202


def store_directly(settings: Settings, job: dict, data: bytes) -> None:
    """Write the job's object past the upload policy (as only the bucket's owner can)."""
    storage.s3_client(settings).put_object(
        Bucket=settings.s3_bucket, Key=job["upload"]["fields"]["key"], Body=data
    )


@pytest.fixture
def small_client(settings: Settings, auth_headers: dict[str, str]) -> Iterator[TestClient]:
    """The gateway with uploads limited to 1000 bytes."""
    from reference.common.settings import get_settings

    small = settings.model_copy(update={"upload_max_bytes": 1000})
    app.dependency_overrides[get_settings] = lambda: small
    try:
        with TestClient(app, headers=auth_headers) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_s3_refuses_an_upload_over_the_limit(small_client: TestClient, broker: Connection) -> None:
    job = start(small_client)
    assert job["upload"]["max_bytes"] == 1000
    refused = put_photo(job, b"\xff\xd8\xff" + b"x" * 998)  # 1001 bytes
    assert refused.status_code == 400 and "EntityTooLarge" in refused.text
    answer = small_client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == 409 and answer.json()["code"] == "upload_missing"
    # Just below the limit, the same upload goes through.
    assert put_photo(job, b"\xff\xd8\xff" + b"x" * 997).status_code == 204
    assert small_client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202
    wait_for(lambda: ai_depth(broker) == 1, timeout=10, describe="one message in q.ai")


def test_s3_refuses_another_content_type_and_an_empty_file(client: TestClient) -> None:
    job = start(client)
    other = put_photo(job, photo(), content_type="text/html")
    assert other.status_code == 403 and "AccessDenied" in other.text
    assert put_photo(job, b"").status_code == 400  # EntityTooSmall: the range starts at 1
    answer = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == 409 and answer.json()["code"] == "upload_missing"


@pytest.mark.parametrize(
    ("size", "status", "code"), [(1001, 413, "upload_too_large"), (0, 422, "upload_empty")]
)
def test_upload_complete_checks_the_size_itself(
    small_client: TestClient,
    settings: Settings,
    broker: Connection,
    size: int,
    status: int,
    code: str,
) -> None:
    # Objects the policy did not bound (written by the bucket's owner) are still checked.
    job = start(small_client)
    store_directly(settings, job, (b"\xff\xd8\xff" + b"x" * size)[:size])
    answer = small_client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == status and answer.json()["code"] == code
    assert ai_depth(broker) == 0


def test_broker_failure_keeps_the_job_waiting(client: TestClient) -> None:
    def broken(task_name: str, job_id: str, priority: int) -> None:
        raise ConnectionError("broker down")

    app.dependency_overrides[get_publisher] = lambda: broken
    job = start(client)
    put_photo(job, photo())
    answer = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == 503 and answer.json()["code"] == "broker_unavailable"
    assert client.get(f"/api/v1/waste/status/{job['job_id']}").json()["status"] == "awaiting_upload"
    del app.dependency_overrides[get_publisher]
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202


@pytest.mark.parametrize("path", ["status", "result", "upload-complete", "events"])
def test_unknown_and_malformed_job_ids(client: TestClient, path: str) -> None:
    method = client.post if path == "upload-complete" else client.get
    unknown = method(f"/api/v1/waste/{path}/{uuid.uuid4()}")
    assert unknown.status_code == 404 and unknown.json()["code"] == "job_not_found"
    malformed = method(f"/api/v1/waste/{path}/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid_job_id"


def test_request_body_errors(client: TestClient) -> None:
    bad_json = client.post(
        "/api/v1/waste/analyze", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422 and bad_json.json()["code"] == "malformed_json"
    wrong_type = client.post("/api/v1/waste/analyze", json={"content_type": "application/pdf"})
    assert wrong_type.status_code == 422 and wrong_type.json()["code"] == "invalid_request"
    assert wrong_type.json()["details"]["errors"][0]["loc"] == ["body", "content_type"]
    extra = client.post("/api/v1/waste/analyze", json={"content_type": "image/png", "x": 1})
    assert extra.status_code == 422 and extra.json()["code"] == "invalid_request"
    huge = client.post(
        "/api/v1/waste/analyze",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    missing = client.get("/api/v1/waste/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_health_readiness_openapi_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "service": "gateway"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"postgres", "redis", "rabbitmq", "s3"}
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "analyze",
        "upload-complete/{job_id}",
        "status/{job_id}",
        "result/{job_id}",
        "events/{job_id}",
    ):
        assert f"/api/v1/waste/{path}" in paths
    metrics = client.get("/metrics").text
    assert (
        'wastecoach_http_requests_total{method="GET",route="/readyz",service="gateway",status="200"}'
        in metrics
    )


def test_readiness_names_the_dependency_that_is_down(settings: Settings) -> None:
    from reference.common.settings import get_settings

    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app.dependency_overrides[get_settings] = lambda: broken
    try:
        with TestClient(app) as client:
            ready = client.get("/readyz")
    finally:
        app.dependency_overrides.clear()
    assert ready.status_code == 503 and ready.json()["code"] == "not_ready"
    assert ready.json()["checks"]["redis"] != "ok" and ready.json()["checks"]["postgres"] == "ok"


def test_a_message_no_queue_takes_is_refused_not_forgotten(
    client: TestClient, broker: Connection
) -> None:
    first, job = start(client), start(client)
    for each in (first, job):
        put_photo(each, photo())
    assert client.post(f"/api/v1/waste/upload-complete/{first['job_id']}").status_code == 202
    topology.kombu_queue(topology.AI)(broker.default_channel).delete()  # q.ai gone, and first
    answer = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == 503 and answer.json()["code"] == "broker_unavailable"
    assert "Unroutable" not in answer.json()["message"]  # no broker text reaches the client
    assert client.get(f"/api/v1/waste/status/{job['job_id']}").json()["status"] == "awaiting_upload"
    # The publisher declares the topology again, and the app's retry is queued.
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202
    assert wait_for(lambda: ai_depth(broker) == 1, timeout=10, describe="the job in q.ai")


def sse_events(client: TestClient, path: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    with client.stream("GET", path) as answer:
        assert answer.status_code == 200
        event = ""
        for line in answer.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
    return events


def test_the_event_stream_answers_for_a_job_redis_no_longer_knows(
    client: TestClient, settings: Settings
) -> None:
    job = start(client)["job_id"]
    analysis.fail_job(settings, uuid.UUID(job), "test_stop", "ended by the test")
    get_redis(settings.redis_url).delete(Keys(settings.redis_prefix).job(job))  # a Redis restart
    events = sse_events(client, f"/api/v1/waste/events/{job}")
    assert [name for name, _ in events] == ["progress", "result"]
    progress, result = (data for _, data in events)
    assert (progress["status"], progress["stage"]) == ("failed", "failed")
    assert (result["status"], result["error"]["code"]) == ("failed", "test_stop")
