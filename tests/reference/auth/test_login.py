"""Social login end to end: auth-service, oauth.verify on a real api worker over RabbitMQ, the
fake providers, PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from sqlalchemy import func, select

from harness.stack.processes import ManagedProcess
from harness.stack.waits import wait_for
from reference.auth.models import Identity, User
from reference.common import security, topology
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.users.models import Profile
from tests.factories import FakeProviders
from tests.reference.auth.conftest import follow_provider

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_worker")]


def count(settings: Settings, model: type) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("provider", ["kakao", "naver", "google"])
def test_first_login_creates_the_account_and_the_next_finds_it(
    client: TestClient,
    auth_settings: Settings,
    oauth_fake: FakeProviders,
    api_worker: ManagedProcess,
    provider: str,
) -> None:
    fake_user = oauth_fake.add_user(provider=provider, nickname=f"분리왕 {provider}")
    query = follow_provider(client, provider, fake_user["id"])
    first = client.get(f"/api/v1/auth/callback/{provider}", params=query)
    assert first.status_code == 200, first.text
    pair = first.json()
    assert pair["token_type"] == "bearer" and pair["new_user"] is True
    assert pair["expires_in"] == 180 * 60 and pair["refresh_expires_in"] == 30 * 86400
    assert first.cookies[security.ACCESS_COOKIE] == pair["access_token"]
    assert "httponly" in first.headers["set-cookie"].lower()
    user_id = uuid.UUID(pair["user_id"])
    assert security.verify(auth_settings, pair["access_token"], "access").user_id == user_id
    assert security.verify(auth_settings, pair["refresh_token"], "refresh").user_id == user_id

    with session_scope(auth_settings.database_url) as session:
        identity = session.scalar(select(Identity).where(Identity.user_id == user_id))
        assert identity is not None
        assert (identity.provider, identity.subject) == (provider, fake_user["id"])
        assert identity.email == fake_user["email"]
        profile = session.get(Profile, user_id)
        assert profile is not None and profile.nickname == f"분리왕 {provider}"

    again = client.get(
        f"/api/v1/auth/callback/{provider}",
        params=follow_provider(client, provider, fake_user["id"]),
    )
    assert again.status_code == 200, again.text
    assert again.json()["user_id"] == str(user_id) and again.json()["new_user"] is False
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert [(i["provider"], i["subject"]) for i in me.json()["identities"]] == [
        (provider, fake_user["id"])
    ]
    assert oauth_fake.stats()["calls"][provider] == {"authorize": 2, "token": 2, "profile": 2}

    # The worker logs each task's result: the outcome, never the e-mail or nickname.
    def logged() -> str | None:
        text = api_worker.log_path.read_text(errors="replace")
        done = [
            line
            for line in text.splitlines()
            if "oauth.verify[" in line and "succeeded" in line and fake_user["id"][:10] in line
        ]
        return text if len(done) == 2 else None

    log = wait_for(logged, timeout=10, describe="both logins in the worker's log")
    assert fake_user["email"] not in log and fake_user["nickname"] not in log


def test_a_replayed_code_is_refused_by_the_provider(
    client: TestClient, auth_settings: Settings, oauth_fake: FakeProviders
) -> None:
    query = follow_provider(client, "kakao")
    assert client.get("/api/v1/auth/callback/kakao", params=query).status_code == 200
    users = count(auth_settings, User)
    # A fresh state, but the code was spent at the first exchange.
    replay = query | {"state": client.get("/api/v1/auth/login/kakao").json()["state"]}
    answer = client.get("/api/v1/auth/callback/kakao", params=replay)
    assert answer.status_code == 400 and answer.json()["code"] == "provider_rejected"
    # The provider's own words stay in the log; the client gets the code and a fixed message.
    assert "KOE320" not in answer.text and "not found" not in answer.text
    assert count(auth_settings, User) == users


# Not Naver: it binds its codes to the state as well, so another state is refused anyway.
@pytest.mark.parametrize("provider", ["kakao", "google"])
def test_an_intercepted_code_is_useless_without_its_logins_pkce_verifier(
    client: TestClient, auth_settings: Settings, provider: str
) -> None:
    """PKCE: the code is bound to its login's S256 challenge; finishing another login with it
    sends that login's verifier, which the provider refuses."""
    start = client.get(f"/api/v1/auth/login/{provider}").json()
    url = parse_qs(urlsplit(start["authorization_url"]).query)
    assert url["code_challenge_method"] == ["S256"] and len(url["code_challenge"][0]) == 43
    assert "code_verifier" not in url  # the verifier never leaves the server
    query = follow_provider(client, provider)
    users = count(auth_settings, User)
    other = client.get(f"/api/v1/auth/login/{provider}").json()["state"]  # its own verifier
    answer = client.get(f"/api/v1/auth/callback/{provider}", params=query | {"state": other})
    assert answer.status_code == 400 and answer.json()["code"] == "provider_rejected"
    assert count(auth_settings, User) == users


def test_naver_answers_a_bad_code_with_200_and_is_still_refused(
    client: TestClient, auth_settings: Settings
) -> None:
    query = follow_provider(client, "naver") | {"code": "not-a-code"}
    answer = client.get("/api/v1/auth/callback/naver", params=query)
    assert answer.status_code == 400 and answer.json()["code"] == "provider_rejected"


def test_provider_errors_are_retried(client: TestClient, oauth_fake: FakeProviders) -> None:
    oauth_fake.fault(provider="google", endpoint="token", status=503, count=1)
    oauth_fake.fault(provider="google", endpoint="profile", status=500, count=1)
    answer = client.get("/api/v1/auth/callback/google", params=follow_provider(client, "google"))
    assert answer.status_code == 200, answer.text
    statuses = oauth_fake.stats()["statuses"]
    assert statuses["503"] == 1 and statuses["500"] == 1


def test_a_provider_down_answers_502_and_dead_letters_the_task(
    client: TestClient, auth_settings: Settings, oauth_fake: FakeProviders
) -> None:
    oauth_fake.fault(
        provider="kakao", endpoint="token", status=503, count=auth_settings.oauth_attempts
    )
    users = count(auth_settings, User)
    with Connection(auth_settings.broker_url) as conn:
        dlq = topology.kombu_queue(topology.DLQ)(conn.default_channel)
        dlq.purge()
        answer = client.get("/api/v1/auth/callback/kakao", params=follow_provider(client, "kakao"))
        assert answer.status_code == 502 and answer.json()["code"] == "provider_unavailable"
        dead = wait_for(lambda: dlq.get(no_ack=True), timeout=10, describe="oauth.verify in q.dlq")
    assert dead.headers["task"] == "oauth.verify"
    assert dead.headers["x-death"][0]["queue"] == "q.api"
    assert "<code>" in dead.headers["argsrepr"]  # the login code stays out of logs and tools
    assert oauth_fake.stats()["calls"]["kakao"]["token"] == auth_settings.oauth_attempts
    assert count(auth_settings, User) == users


def test_no_answer_in_time_is_504(
    client: TestClient, auth_settings: Settings, oauth_fake: FakeProviders
) -> None:
    oauth_fake.reset(hang_seconds=3.0)
    oauth_fake.fault(provider="kakao", endpoint="profile", kind="hang", count=3)
    impatient = auth_settings.model_copy(update={"oauth_verify_timeout_seconds": 0.5})
    client.app.dependency_overrides[get_settings] = lambda: impatient  # type: ignore[attr-defined]
    users = count(auth_settings, User)
    answer = client.get("/api/v1/auth/callback/kakao", params=follow_provider(client, "kakao"))
    assert answer.status_code == 504 and answer.json()["code"] == "provider_timeout"
    assert count(auth_settings, User) == users


def test_the_worker_is_still_consuming(api_worker: ManagedProcess) -> None:
    # Guards the fixtures above: a worker that died mid-package would turn every test into 504s.
    assert api_worker.alive(), api_worker.log_tail()
