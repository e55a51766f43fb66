"""Rate limits and quotas: the abusive caller is refused with 429, Retry-After and a stable code;
an honest one at the limit passes; the count is atomic across concurrent callers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from harness.stack.waits import wait_for
from reference.common import limits
from reference.common.settings import Settings, get_settings
from reference.gateway import app
from tests.factories import photo
from tests.reference.waste.conftest import bearer, put_photo

pytestmark = pytest.mark.integration


def refused(settings: Settings, limit: str) -> float:
    return REGISTRY.get_sample_value("wastecoach_rate_limited_total", {"limit": limit}) or 0.0


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:",
            "limit_scans_per_minute": 3,
            "limit_model_calls_per_day": 2,
            "limit_event_streams": 1,
            "limit_logins_per_minute": 2,
        }
    )


@pytest.fixture
def client(limited: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[get_settings] = lambda: limited
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def assert_429(answer, code: str, most: int) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 429 and answer.json()["code"] == code, answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= most


def test_scans_per_minute_per_user(client: TestClient, limited: Settings) -> None:
    abuser, honest = bearer(limited), bearer(limited)
    for _ in range(3):  # at the limit: all pass
        assert client.post("/api/v1/waste/analyze", json={}, headers=abuser).status_code == 201
    before = refused(limited, "scans_per_minute")
    assert_429(
        client.post("/api/v1/waste/analyze", json={}, headers=abuser), "scan_rate_limited", 61
    )
    assert refused(limited, "scans_per_minute") == before + 1
    assert client.post("/api/v1/waste/analyze", json={}, headers=honest).status_code == 201


def test_model_calls_per_day_per_user(client: TestClient, limited: Settings) -> None:
    headers = bearer(limited)
    jobs = [client.post("/api/v1/waste/analyze", json={}, headers=headers).json() for _ in range(3)]
    for _ in range(5):  # upload-complete before the upload: refused, and costs no quota
        early = client.post(f"/api/v1/waste/upload-complete/{jobs[0]['job_id']}", headers=headers)
        assert early.status_code == 409
    for job in jobs:
        put_photo(job, photo())
    for job in jobs[:2]:
        done = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}", headers=headers)
        assert done.status_code == 202, done.text
    third = client.post(f"/api/v1/waste/upload-complete/{jobs[2]['job_id']}", headers=headers)
    assert_429(third, "model_quota_exceeded", 24 * 3600 + 1)
    status = client.get(f"/api/v1/waste/status/{jobs[2]['job_id']}", headers=headers).json()
    assert status["status"] == "awaiting_upload"  # nothing queued, nothing paid


def test_event_streams_at_once_per_user(client: TestClient, limited: Settings) -> None:
    user = uuid.uuid4()
    headers = bearer(limited, user)
    job = client.post("/api/v1/waste/analyze", json={}, headers=headers).json()
    held = limits.acquire_stream(limited, str(user), limit=1, hold_seconds=60)
    assert_429(
        client.get(f"/api/v1/waste/events/{job['job_id']}", headers=headers),
        "too_many_streams",
        limits.STREAM_RETRY_SECONDS,
    )
    limits.release(limited, held)
    # Released, the place is there for the next stream.
    limits.release(limited, limits.acquire_stream(limited, str(user), limit=1, hold_seconds=60))


def test_a_stream_place_expires_when_its_holder_died(limited: Settings) -> None:
    limits.acquire_stream(limited, "crashed", limit=1, hold_seconds=0.5)  # never released

    def free() -> bool:
        try:
            limits.release(
                limited, limits.acquire_stream(limited, "crashed", limit=1, hold_seconds=5)
            )
        except limits.RateLimited:
            return False
        return True

    wait_for(free, timeout=10, interval=0.2, describe="the dead stream's place to expire")


def test_logins_per_minute_per_address(client: TestClient) -> None:
    for _ in range(2):
        assert client.get("/api/v1/auth/login/kakao").status_code == 200
    assert_429(client.get("/api/v1/auth/login/kakao"), "login_rate_limited", 61)


def test_the_count_is_atomic_under_concurrent_callers(limited: Settings) -> None:
    passed: list[int] = []
    start = threading.Barrier(20)

    def call() -> None:
        start.wait()
        try:
            limits.hit(limited, limits.SCANS, "racer", limit=10)
            passed.append(1)
        except limits.RateLimited:
            pass

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 10
