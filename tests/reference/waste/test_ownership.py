"""The waste routes need a logged-in caller and show each caller only their own jobs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from pydantic import SecretStr

from reference.common import revocation, security, topology
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste import analysis
from reference.waste.models import Job
from tests.factories import photo
from tests.reference.waste.conftest import bearer, put_photo

pytestmark = pytest.mark.integration

ROUTES = [
    ("POST", "/api/v1/waste/analyze"),
    ("POST", "/api/v1/waste/upload-complete/{job}"),
    ("GET", "/api/v1/waste/status/{job}"),
    ("GET", "/api/v1/waste/result/{job}"),
    ("GET", "/api/v1/waste/events/{job}"),
]


def expired_token(settings: Settings) -> str:
    return jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "iss": settings.jwt_issuer,
            "exp": datetime.now(UTC) - timedelta(seconds=5),
        },
        settings.jwt_secret.get_secret_value(),
        algorithm=security.ALGORITHM,
    )


def ai_depth(broker: Connection) -> int:
    return {name: n for name, n, _ in topology.iter_depths(broker)}["q.ai"]


def test_analyze_records_the_caller_as_the_owner(
    client: TestClient, settings: Settings, user_id: uuid.UUID
) -> None:
    job = client.post("/api/v1/waste/analyze", json={}).json()
    with session_scope(settings.database_url) as session:
        stored = session.get(Job, uuid.UUID(job["job_id"]))
        assert stored is not None and stored.user_id == user_id


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_missing_or_bad_token(
    client: TestClient, settings: Settings, method: str, path: str
) -> None:
    job = client.post("/api/v1/waste/analyze", json={}).json()["job_id"]
    url = path.format(job=job)
    revoked = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, revoked.claims)
    forged = security.issue(
        settings.model_copy(update={"jwt_secret": SecretStr("x" * 40)}), uuid.uuid4(), "access"
    )
    refresh = security.issue(settings, uuid.uuid4(), "refresh")
    cases = [
        ("token_missing", ""),
        ("token_invalid", "Bearer not.a.jwt"),
        ("token_invalid", f"Bearer {forged.token}"),
        ("token_expired", f"Bearer {expired_token(settings)}"),
        ("token_revoked", f"Bearer {revoked.token}"),
        ("token_wrong_type", f"Bearer {refresh.token}"),
    ]
    for code, header in cases:
        answer = client.request(
            method, url, headers={"Authorization": header}, json={} if method == "POST" else None
        )
        assert answer.status_code == 401, (code, answer.text)
        assert answer.json()["code"] == code
    status = client.get(f"/api/v1/waste/status/{job}").json()
    assert status["status"] == "awaiting_upload"  # nothing changed


def test_another_users_job_is_not_found_and_left_alone(
    client: TestClient, settings: Settings, broker: Connection
) -> None:
    job = client.post("/api/v1/waste/analyze", json={}).json()
    put_photo(job, photo())
    intruder = bearer(settings)
    for method, path in ROUTES[1:]:
        answer = client.request(method, path.format(job=job["job_id"]), headers=intruder)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["code"] == "job_not_found"
    # The intruder's upload-complete queued nothing; the owner's job is as it was.
    assert ai_depth(broker) == 0
    assert client.get(f"/api/v1/waste/status/{job['job_id']}").json()["status"] == (
        "awaiting_upload"
    )
    assert client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code == 202


def test_ownership_holds_when_redis_lost_the_job(client: TestClient, settings: Settings) -> None:
    job = client.post("/api/v1/waste/analyze", json={}).json()["job_id"]
    get_redis(settings.redis_url).delete(Keys(settings.redis_prefix).job(job))
    intruder = bearer(settings)
    for path in ("status", "result", "events"):
        answer = client.get(f"/api/v1/waste/{path}/{job}", headers=intruder)
        assert answer.status_code == 404 and answer.json()["code"] == "job_not_found"
    own = client.get(f"/api/v1/waste/status/{job}")
    assert own.status_code == 200 and own.json()["status"] == "awaiting_upload"


def test_the_event_stream_takes_the_token_from_the_cookie(
    settings: Settings, client: TestClient, user_id: uuid.UUID
) -> None:
    job = client.post("/api/v1/waste/analyze", json={}).json()["job_id"]
    analysis.fail_job(settings, uuid.UUID(job), "test_stop", "ended by the test")
    token = security.issue(settings, user_id, "access").token
    client.headers.pop("Authorization")
    assert client.get(f"/api/v1/waste/events/{job}").json()["code"] == "token_missing"
    client.cookies.set(security.ACCESS_COOKIE, token)
    events: list[tuple[str, str]] = []
    with client.stream("GET", f"/api/v1/waste/events/{job}") as answer:
        assert answer.status_code == 200
        event = ""
        for line in answer.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, line.split(":", 1)[1].strip()))
    assert [name for name, _ in events] == ["progress", "result"]
    assert json.loads(events[-1][1])["error"]["code"] == "test_stop"
