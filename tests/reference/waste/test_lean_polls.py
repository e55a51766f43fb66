"""The gateway answers status and result polls ahead of FastAPI's router (reference.common.lean)
exactly as the FastAPI routes do: the same status codes, bodies and headers, whatever the job,
the token or the servers, and the request metrics count them alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from reference import gateway
from reference.common import revocation, security
from reference.common.app import create_app
from reference.common.settings import Settings, get_settings
from reference.waste import analysis
from tests.reference.waste.conftest import bearer
from tests.reference.waste.test_ownership import expired_token

pytestmark = pytest.mark.integration

STATUS = "/api/v1/waste/status/{}"
RESULT = "/api/v1/waste/result/{}"
HOT = {STATUS.format("{job_id}"), RESULT.format("{job_id}")}

# The gateway's routers without its lean routes: every poll goes through FastAPI's router.
routed = create_app("gateway", [router for router, _ in gateway.SERVICES], [], title="routed")


@pytest.fixture
def no_router_for_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway poll that reaches the hot routes' FastAPI handling fails the test: the lean
    path must have answered it (other routes, and the routed app, are handled as ever)."""
    handle = APIRoute.handle

    async def guarded(route: APIRoute, scope: Scope, receive: Receive, send: Send) -> None:
        lean = scope["app"] is gateway.app
        assert not (lean and route.path in HOT), f"{route.path} went through FastAPI's router"
        await handle(route, scope, receive, send)

    monkeypatch.setattr(APIRoute, "handle", guarded)


@contextmanager
def clients(settings: Settings, headers: dict[str, str]) -> Iterator[tuple[TestClient, TestClient]]:
    """The gateway (lean polls) and the routed app, both on ``settings``."""
    for app in (gateway.app, routed):
        app.dependency_overrides[get_settings] = lambda: settings
    try:
        with (
            TestClient(gateway.app, headers=headers) as lean,
            TestClient(routed, headers=headers) as slow,
        ):
            yield lean, slow
    finally:
        for app in (gateway.app, routed):
            app.dependency_overrides.clear()


def same_answer(settings: Settings, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """``path`` asked of both apps; asserts they answer alike and returns the status and JSON."""
    with clients(settings, headers) as (lean, slow):
        fast, reference = lean.get(path), slow.get(path)
    assert (fast.status_code, fast.content) == (reference.status_code, reference.content)
    assert fast.headers["content-type"] == reference.headers["content-type"] == "application/json"
    assert fast.headers["content-length"] == reference.headers["content-length"]
    return fast.status_code, fast.json()


@pytest.fixture
def job(client: TestClient) -> str:
    return client.post("/api/v1/waste/analyze", json={}).json()["job_id"]


@pytest.mark.usefixtures("no_router_for_polls")
def test_a_poll_of_ones_own_job(settings: Settings, auth_headers: dict[str, str], job: str) -> None:
    status, body = same_answer(settings, STATUS.format(job), auth_headers)
    assert status == 200 and body["status"] == "awaiting_upload" and body["job_id"] == job


@pytest.mark.usefixtures("no_router_for_polls")
def test_the_result_is_202_until_the_job_ends_then_200(
    settings: Settings, auth_headers: dict[str, str], job: str
) -> None:
    status, body = same_answer(settings, RESULT.format(job), auth_headers)
    assert status == 202 and body["status"] == "awaiting_upload"
    analysis.fail_job(settings, uuid.UUID(job), "test_stop", "ended by the test")
    status, body = same_answer(settings, RESULT.format(job), auth_headers)
    assert status == 200 and body["error"]["code"] == "test_stop"
    status, body = same_answer(settings, STATUS.format(job), auth_headers)
    assert status == 200 and body["status"] == "failed"


@pytest.mark.usefixtures("no_router_for_polls")
@pytest.mark.parametrize("path", [STATUS, RESULT])
def test_an_unknown_or_another_users_job_is_not_found(
    settings: Settings, auth_headers: dict[str, str], job: str, path: str
) -> None:
    status, body = same_answer(settings, path.format(uuid.uuid4()), auth_headers)
    assert status == 404 and body["code"] == "job_not_found"
    status, body = same_answer(settings, path.format(job), bearer(settings))
    assert status == 404 and body["code"] == "job_not_found"


def bearer_of(settings: Settings, token_type: security.TokenType) -> dict[str, str]:
    return {"Authorization": f"Bearer {security.issue(settings, uuid.uuid4(), token_type).token}"}


@pytest.mark.usefixtures("no_router_for_polls")
@pytest.mark.parametrize("path", [STATUS, RESULT])
def test_a_missing_bad_expired_denied_or_refresh_token_is_refused(
    settings: Settings, job: str, path: str
) -> None:
    revoked = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, revoked.claims)
    forged = security.issue(
        settings.model_copy(update={"jwt_secret": SecretStr("x" * 40)}), uuid.uuid4(), "access"
    )
    cases = [
        ("token_missing", {}),
        ("token_invalid", {"Authorization": "Bearer not.a.jwt"}),
        ("token_invalid", {"Authorization": f"Bearer {forged.token}"}),
        ("token_expired", {"Authorization": f"Bearer {expired_token(settings)}"}),
        ("token_revoked", {"Authorization": f"Bearer {revoked.token}"}),
        ("token_wrong_type", bearer_of(settings, "refresh")),
    ]
    for code, headers in cases:
        status, body = same_answer(settings, path.format(job), headers)
        assert (status, body["code"]) == (401, code)


@pytest.mark.usefixtures("no_router_for_polls")
@pytest.mark.parametrize("path", [STATUS, RESULT])
def test_a_malformed_job_id_is_refused(
    settings: Settings, auth_headers: dict[str, str], path: str
) -> None:
    status, body = same_answer(settings, path.format("not-a-uuid"), auth_headers)
    assert status == 422 and body["code"] == "invalid_job_id"


@pytest.mark.parametrize("path", [STATUS, RESULT])
def test_paths_the_lean_routes_do_not_take_go_to_the_router(
    settings: Settings, auth_headers: dict[str, str], job: str, path: str
) -> None:
    """A second segment, an empty id, or another method: FastAPI answers, as before."""
    with clients(settings, auth_headers) as (lean, slow):
        for method, url in [
            ("GET", path.format(f"{job}/x")),
            ("GET", path.format("")),
            ("HEAD", path.format(job)),
            ("POST", path.format(job)),
        ]:
            fast, reference = lean.request(method, url), slow.request(method, url)
            assert (fast.status_code, fast.content) == (reference.status_code, reference.content)
    assert fast.status_code == 405


@pytest.mark.usefixtures("no_router_for_polls")
def test_with_redis_down_polls_are_answered_from_postgresql(
    settings: Settings, auth_headers: dict[str, str], job: str
) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    status, body = same_answer(broken, STATUS.format(job), auth_headers)
    assert status == 200 and body["status"] == "awaiting_upload"
    status, body = same_answer(broken, RESULT.format(job), auth_headers)
    assert status == 202 and body["status"] == "awaiting_upload"
    status, body = same_answer(broken, STATUS.format(uuid.uuid4()), auth_headers)
    assert status == 404 and body["code"] == "job_not_found"


def _polls(status: int) -> float:
    labels = {"service": "gateway", "route": STATUS.format("{job_id}"), "method": "GET"}
    count = REGISTRY.get_sample_value(
        "wastecoach_http_requests_total", labels | {"status": str(status)}
    )
    return count or 0.0


@pytest.mark.usefixtures("no_router_for_polls")
def test_the_request_metrics_count_lean_polls_by_their_route(
    client: TestClient, settings: Settings, job: str
) -> None:
    ok, not_found = _polls(200), _polls(404)
    assert client.get(STATUS.format(job)).status_code == 200
    assert client.get(STATUS.format(uuid.uuid4())).status_code == 404
    assert (_polls(200), _polls(404)) == (ok + 1, not_found + 1)
