"""auth-service's routes and their bad input: state, providers, refresh rotation, logout,
the development login. The provider check is replaced in process here (``get_verifier``); the
real one, oauth.verify on a worker, is in test_login.py."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from reference.auth.api import get_verifier
from reference.auth.models import Identity, User
from reference.auth.providers import LoginCode, Provider, ProviderProfile, ProviderRejected
from reference.common import security
from reference.common.cache import get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.users.models import Profile
from tests.factories import FakeProviders
from tests.reference.auth.conftest import follow_provider

pytestmark = pytest.mark.integration


def rows(settings: Settings) -> tuple[int, int, int]:
    """How many accounts, identities and profiles the sandbox holds."""
    with session_scope(settings.database_url) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Identity, Profile)
        )


def profile_for(subject: str):  # type: ignore[no-untyped-def]
    def verify(settings: Settings, provider: Provider, login: LoginCode) -> ProviderProfile:
        return ProviderProfile(subject, f"nick-{subject}", f"{subject}@example.com")

    return verify


def dev_login(client: TestClient, subject: str | None = None, provider: str = "kakao") -> dict:
    answer = client.post(
        "/api/v1/auth/dev-login",
        json={"provider": provider, "subject": subject or uuid.uuid4().hex},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- login and callback -------------------------------------------------------------------


def test_login_gives_the_authorization_url_with_a_stored_state(
    client: TestClient, auth_settings: Settings
) -> None:
    answer = client.get("/api/v1/auth/login/naver")
    assert answer.status_code == 200
    body = answer.json()
    url = urlsplit(body["authorization_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"{auth_settings.oauth_naver_base_url}/oauth2.0/authorize"
    )
    assert query["response_type"] == "code"
    assert query["client_id"] == auth_settings.oauth_naver_client_id
    assert query["state"] == body["state"]
    assert (
        query["redirect_uri"]
        == body["redirect_uri"]
        == ("http://127.0.0.1:9/api/v1/auth/callback/naver")
    )
    nonce = body["state"].split(".")[0]
    ttl = get_redis(auth_settings.redis_url).ttl(f"{auth_settings.redis_prefix}oauth-state:{nonce}")
    assert 0 < ttl <= auth_settings.oauth_state_ttl_seconds == body["expires_in"]


def test_unknown_provider(client: TestClient) -> None:
    for answer in (
        client.get("/api/v1/auth/login/facebook"),
        client.get("/api/v1/auth/callback/facebook", params={"code": "c", "state": "s"}),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "unknown_provider"
    # In a body the provider is an enum of the schema: a validation error like any other field.
    body = client.post("/api/v1/auth/dev-login", json={"provider": "apple", "subject": "1"})
    assert body.status_code == 422 and body.json()["code"] == "invalid_request"


def test_the_state_is_single_use_and_cannot_be_forged(
    client: TestClient, auth_settings: Settings, oauth_fake: FakeProviders
) -> None:
    client.app.dependency_overrides[get_verifier] = lambda: profile_for("state-user")  # type: ignore[attr-defined]
    before = rows(auth_settings)
    query = follow_provider(client, "kakao")
    nonce, signature = query["state"].split(".")
    other_provider = client.get("/api/v1/auth/login/google").json()["state"]
    bad_states = {
        "missing": None,
        "forged signature": f"{nonce}.{'A' * len(signature)}",
        "no signature": nonce,
        "made up": f"{uuid.uuid4().hex}.{signature}",
        "another provider's": other_provider,
        "garbage": "%%%.",
    }
    for reason, state in bad_states.items():
        params = {"code": query["code"]} | ({"state": state} if state is not None else {})
        answer = client.get("/api/v1/auth/callback/kakao", params=params)
        assert answer.status_code == 400, reason
        assert answer.json()["code"] == "invalid_state", reason
    assert rows(auth_settings) == before  # nothing created
    # None of those spent the real state: it still logs in, once.
    assert client.get("/api/v1/auth/callback/kakao", params=query).status_code == 200
    replay = client.get("/api/v1/auth/callback/kakao", params=query)
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_state"
    assert rows(auth_settings) == tuple(n + 1 for n in before)


def test_the_state_works_only_in_the_browser_that_started_the_login(
    client: TestClient, auth_settings: Settings
) -> None:
    # Login CSRF: the attacker starts a login, then has the victim's browser finish it.
    client.app.dependency_overrides[get_verifier] = lambda: profile_for("attacker")  # type: ignore[attr-defined]
    before = rows(auth_settings)
    query = follow_provider(client, "kakao")
    assert client.cookies.get("oauth_binding")
    with TestClient(client.app) as victim:  # another browser: no cookie, or its own
        for cookie in (None, "v" * 32):
            if cookie is not None:
                victim.cookies.set("oauth_binding", cookie, path="/api/v1/auth")
            answer = victim.get("/api/v1/auth/callback/kakao", params=query)
            assert answer.status_code == 400 and answer.json()["code"] == "invalid_state"
    assert rows(auth_settings) == before
    # In the browser that started it, the same state still logs in.
    assert client.get("/api/v1/auth/callback/kakao", params=query).status_code == 200


def test_an_expired_state_is_refused(client: TestClient, auth_settings: Settings) -> None:
    client.app.dependency_overrides[get_verifier] = lambda: profile_for("late-user")  # type: ignore[attr-defined]
    query = follow_provider(client, "google")
    nonce = query["state"].split(".")[0]
    get_redis(auth_settings.redis_url).delete(f"{auth_settings.redis_prefix}oauth-state:{nonce}")
    answer = client.get("/api/v1/auth/callback/google", params=query)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_state"


def test_a_denied_login_and_a_missing_code(client: TestClient, auth_settings: Settings) -> None:
    before = rows(auth_settings)
    denied = follow_provider(client, "kakao", mock_outcome="deny")
    assert denied["error"] == "access_denied" and "code" not in denied
    answer = client.get("/api/v1/auth/callback/kakao", params=denied)
    assert answer.status_code == 400 and answer.json()["code"] == "oauth_denied"
    state = client.get("/api/v1/auth/login/kakao").json()["state"]
    no_code = client.get("/api/v1/auth/callback/kakao", params={"state": state})
    assert no_code.status_code == 422 and no_code.json()["code"] == "invalid_request"
    assert rows(auth_settings) == before


def test_a_provider_refusal_is_a_400(client: TestClient, auth_settings: Settings) -> None:
    def refuse(*_: object) -> ProviderProfile:
        raise ProviderRejected("provider_rejected", "kakao said: KOE320 internal-host-7")

    client.app.dependency_overrides[get_verifier] = lambda: refuse  # type: ignore[attr-defined]
    before = rows(auth_settings)
    answer = client.get("/api/v1/auth/callback/kakao", params=follow_provider(client, "kakao"))
    assert answer.status_code == 400 and answer.json()["code"] == "provider_rejected"
    assert "KOE320" not in answer.text  # the provider's own text stays in the log
    assert rows(auth_settings) == before


def test_production_refuses_unconfigured_providers_and_the_dev_login(
    client: TestClient, auth_settings: Settings
) -> None:
    production = auth_settings.model_copy(
        update={"environment": "production", "jwt_secret": SecretStr("p" * 40)}
    )
    client.app.dependency_overrides[get_settings] = lambda: production  # type: ignore[attr-defined]
    before = rows(auth_settings)
    login = client.get("/api/v1/auth/login/kakao")
    assert login.status_code == 503 and login.json()["code"] == "provider_not_configured"
    assert "WASTECOACH_OAUTH_KAKAO_CLIENT_SECRET" in login.json()["message"]
    dev = client.post("/api/v1/auth/dev-login", json={"provider": "kakao", "subject": "1"})
    assert dev.status_code == 404 and dev.json()["code"] == "not_found"
    assert rows(auth_settings) == before
    configured = production.model_copy(
        update={"oauth_kakao_client_secret": SecretStr("a-real-secret")}
    )
    client.app.dependency_overrides[get_settings] = lambda: configured  # type: ignore[attr-defined]
    assert client.get("/api/v1/auth/login/kakao").status_code == 200


# --- the development login ----------------------------------------------------------------


def test_dev_login_creates_once_then_finds(client: TestClient, auth_settings: Settings) -> None:
    subject = f"dev-{uuid.uuid4().hex[:8]}"
    first = dev_login(client, subject, "naver")
    again = dev_login(client, subject, "naver")
    assert first["new_user"] is True and again["new_user"] is False
    assert first["user_id"] == again["user_id"]
    other = dev_login(client, subject, "google")  # the same id at another provider: another person
    assert other["user_id"] != first["user_id"]
    me = client.get("/api/v1/auth/me", headers=auth(first["access_token"])).json()
    assert [(i["provider"], i["subject"]) for i in me["identities"]] == [("naver", subject)]
    for bad in (
        {"subject": ""},
        {"subject": "a b"},
        {"subject": "x" * 129},
        {"nope": 1},
    ):
        answer = client.post("/api/v1/auth/dev-login", json=bad)
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_request", bad


@pytest.mark.parametrize("length", [94, 95, 128])
def test_dev_login_with_a_long_subject(client: TestClient, length: int) -> None:
    # The default nickname "<provider>-<subject>" overflowed its 100-character column (500).
    subject = uuid.uuid4().hex + "s" * (length - 32)
    pair = dev_login(client, subject)
    me = client.get("/api/v1/auth/me", headers=auth(pair["access_token"])).json()
    assert me["identities"][0]["subject"] == subject
    assert len(me["identities"][0]["nickname"]) <= 100


def test_concurrent_first_logins_make_one_account(
    client: TestClient, auth_settings: Settings
) -> None:
    subject = f"race-{uuid.uuid4().hex[:8]}"
    answers: list[dict] = []
    barrier = threading.Barrier(4)

    def login() -> None:
        barrier.wait()
        answers.append(dev_login(client, subject))

    threads = [threading.Thread(target=login) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["user_id"] for a in answers}) == 1
    assert sum(a["new_user"] for a in answers) == 1


# --- tokens: refresh, logout, /me ---------------------------------------------------------


def test_refresh_rotates_the_pair(client: TestClient, auth_settings: Settings) -> None:
    pair = dev_login(client)
    answer = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert answer.status_code == 200, answer.text
    new = answer.json()
    assert new["user_id"] == pair["user_id"] and new["new_user"] is False
    assert new["refresh_token"] != pair["refresh_token"]
    assert answer.cookies[security.ACCESS_COOKIE] == new["access_token"]
    assert client.get("/api/v1/auth/me", headers=auth(new["access_token"])).status_code == 200
    # The old access token lives on until it expires; the old refresh token is spent.
    assert client.get("/api/v1/auth/me", headers=auth(pair["access_token"])).status_code == 200
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}
        ).status_code
        == 200
    )


def test_reusing_a_rotated_refresh_token_logs_every_session_out(
    client: TestClient, auth_settings: Settings
) -> None:
    pair = dev_login(client)
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    new = rotated.json()
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["code"] == "token_revoked"
    assert "already used" in reuse.json()["message"]
    for token in (new["access_token"], pair["access_token"]):
        answer = client.get("/api/v1/auth/me", headers=auth(token))
        assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
    stolen = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json()["code"] == "token_revoked"


def test_rotation_and_logout_survive_a_redis_flush(
    client: TestClient, auth_settings: Settings
) -> None:
    pair = dev_login(client)
    new = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
    other = dev_login(client)
    logout = client.post("/api/v1/auth/logout", headers=auth(other["access_token"]))
    assert logout.status_code == 204
    redis = get_redis(auth_settings.redis_url)
    for key in redis.scan_iter(match=f"{auth_settings.redis_prefix}*"):  # Redis lost it all
        redis.delete(key)
    gone = client.get("/api/v1/auth/me", headers=auth(other["access_token"]))
    assert gone.status_code == 401 and gone.json()["code"] == "token_revoked"
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reuse.status_code == 401 and "already used" in reuse.json()["message"]
    answer = client.get("/api/v1/auth/me", headers=auth(new["access_token"]))
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"


def test_concurrent_refreshes_with_one_token_give_one_pair(client: TestClient) -> None:
    pair = dev_login(client)
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def refresh() -> None:
        barrier.wait()
        answer = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]


def test_refresh_refuses_bad_tokens(client: TestClient, auth_settings: Settings) -> None:
    pair = dev_login(client)
    expired = jwt.encode(
        {
            "sub": pair["user_id"],
            "typ": "refresh",
            "jti": uuid.uuid4().hex,
            "iss": auth_settings.jwt_issuer,
            "exp": datetime.now(UTC) - timedelta(seconds=1),
        },
        auth_settings.jwt_secret.get_secret_value(),
        algorithm=security.ALGORITHM,
    )
    forged = security.issue(
        auth_settings.model_copy(update={"jwt_secret": SecretStr("f" * 40)}),
        uuid.UUID(pair["user_id"]),
        "refresh",
    ).token
    cases = {
        pair["access_token"]: "token_wrong_type",
        expired: "token_expired",
        forged: "token_invalid",
        "garbage": "token_invalid",
    }
    for token, code in cases.items():
        answer = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert answer.status_code == 401 and answer.json()["code"] == code
    for body in ({}, {"refresh_token": ""}, {"refresh_token": "x", "extra": 1}):
        answer = client.post("/api/v1/auth/refresh", json=body)
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"
    huge = client.post(
        "/api/v1/auth/refresh",
        content=b'{"refresh_token": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    # None of that spent the real refresh token.
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 200
    )


def test_refresh_of_a_deleted_account(client: TestClient, auth_settings: Settings) -> None:
    pair = dev_login(client)
    with session_scope(auth_settings.database_url) as session:
        session.execute(delete(User).where(User.id == uuid.UUID(pair["user_id"])))
    answer = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert answer.status_code == 401 and answer.json()["code"] == "user_not_found"
    me = client.get("/api/v1/auth/me", headers=auth(pair["access_token"]))
    assert me.status_code == 404 and me.json()["code"] == "user_not_found"


def test_logout_revokes_both_tokens_and_the_cookie(client: TestClient) -> None:
    pair = dev_login(client)
    other_device = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": dev_login(client)["refresh_token"]}
    )
    assert other_device.status_code == 200
    answer = client.post(
        "/api/v1/auth/logout",
        headers=auth(pair["access_token"]),
        json={"refresh_token": pair["refresh_token"]},
    )
    assert answer.status_code == 204
    assert 'access_token=""' in answer.headers["set-cookie"]
    me = client.get("/api/v1/auth/me", headers=auth(pair["access_token"]))
    assert me.status_code == 401 and me.json()["code"] == "token_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401 and refresh.json()["code"] == "token_revoked"
    again = client.post("/api/v1/auth/logout", headers=auth(pair["access_token"]))
    assert again.status_code == 401 and again.json()["code"] == "token_revoked"
    # Another account's session is untouched.
    other = other_device.json()["access_token"]
    assert client.get("/api/v1/auth/me", headers=auth(other)).status_code == 200


def test_logout_with_the_cookie_and_without_a_body(client: TestClient) -> None:
    pair = dev_login(client)  # sets the cookie on the client
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.cookies.set(security.ACCESS_COOKIE, pair["access_token"])
    refused = client.get("/api/v1/auth/me")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 200
    )  # not given at logout, so not revoked


def test_logout_with_a_bad_refresh_token_changes_nothing(client: TestClient) -> None:
    mine, theirs = dev_login(client), dev_login(client)
    client.cookies.clear()
    cases = {
        theirs["refresh_token"]: (400, "refresh_token_mismatch"),
        "garbage": (401, "token_invalid"),
        mine["access_token"]: (401, "token_wrong_type"),
    }
    for refresh, (status, code) in cases.items():
        answer = client.post(
            "/api/v1/auth/logout",
            headers=auth(mine["access_token"]),
            json={"refresh_token": refresh},
        )
        assert answer.status_code == status and answer.json()["code"] == code
    assert client.get("/api/v1/auth/me", headers=auth(mine["access_token"])).status_code == 200
    for pair in (mine, theirs):
        assert (
            client.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            ).status_code
            == 200
        )
    client.cookies.clear()  # the refreshes set it again
    missing = client.post("/api/v1/auth/logout")
    assert missing.status_code == 401 and missing.json()["code"] == "token_missing"


def test_me_needs_a_token(client: TestClient) -> None:
    answer = client.get("/api/v1/auth/me")
    assert answer.status_code == 401 and answer.json()["code"] == "token_missing"


# --- the service on its own ---------------------------------------------------------------


def test_health_readiness_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "service": "auth"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"postgres", "redis", "rabbitmq"}
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "login/{provider}",
        "callback/{provider}",
        "refresh",
        "logout",
        "me",
        "dev-login",
    ):
        assert f"/api/v1/auth/{path}" in paths
