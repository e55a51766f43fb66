"""The fake OAuth providers: the real APIs' paths and shapes, single-use codes, faults and
latency, the admin API, and the command line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.mocks.oauth_server import MockOAuthConfig, create_app, main, s256
from reference.auth.providers import PROVIDERS, ProviderRejected
from tests.factories import start_fake_oauth

REDIRECT = "https://app.example/api/v1/auth/callback"
VERIFIER = "v" * 43  # the shortest PKCE verifier RFC 7636 allows
PKCE = {"code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}
PATHS = {
    "kakao": ("/kakao/oauth/authorize", "/kakao/oauth/token", "/kakao/v2/user/me"),
    "naver": ("/naver/oauth2.0/authorize", "/naver/oauth2.0/token", "/naver/v1/nid/me"),
    "google": ("/google/o/oauth2/v2/auth", "/google/token", "/google/v1/userinfo"),
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(MockOAuthConfig(latency_seconds=0))) as test_client:
        yield test_client


def authorize(client: TestClient, provider: str, **params: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "state": "s1",
        **PKCE,
    } | params
    answer = client.get(PATHS[provider][0], params=query, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(client: TestClient, provider: str, code: str, **form: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "app",
        "client_secret": "secret",
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_verifier": VERIFIER,
    } | form
    return client.post(PATHS[provider][1], data=data)


def profile(client: TestClient, provider: str, token: str) -> httpx.Response:
    return client.get(PATHS[provider][2], headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("provider", ["kakao", "naver", "google"])
def test_a_login_round_trip_reads_like_the_real_api(client: TestClient, provider: str) -> None:
    user = client.post(
        "/_mock/users", json={"provider": provider, "nickname": "재활용요정", "email": "a@b.kr"}
    ).json()
    query = authorize(client, provider, login_hint=user["id"])
    assert query["state"] == "s1"
    token = exchange(client, provider, query["code"])
    assert token.status_code == 200
    spec = PROVIDERS[provider]
    access = spec.access_token(token.status_code, token.json())
    me = profile(client, provider, access)
    assert me.status_code == 200
    body = me.json()
    if provider == "kakao":
        assert body["id"] == int(user["id"])  # Kakao ids are numbers on the wire
        assert body["kakao_account"]["email"] == "a@b.kr"
    elif provider == "naver":
        assert body["resultcode"] == "00" and body["response"]["id"] == user["id"]
    else:
        assert body["sub"] == user["id"] and body["email_verified"] is True
    read = spec.read_profile(body)
    assert (read.subject, read.nickname, read.email) == (user["id"], "재활용요정", "a@b.kr")


def test_without_a_hint_the_default_user_logs_in(client: TestClient) -> None:
    first = exchange(client, "google", authorize(client, "google")["code"]).json()
    second = exchange(client, "google", authorize(client, "google")["code"]).json()
    subjects = {profile(client, "google", t["access_token"]).json()["sub"] for t in (first, second)}
    assert len(subjects) == 1


@pytest.mark.parametrize("provider", ["kakao", "naver", "google"])
def test_codes_are_single_use_and_bound(client: TestClient, provider: str) -> None:
    spec = PROVIDERS[provider]
    code = authorize(client, provider)["code"]
    binding = (
        {"state": "other"} if provider == "naver" else {"redirect_uri": "https://evil.example"}
    )
    for form in ({"client_id": "someone-else"}, binding, {"grant_type": "password"}):
        refused = exchange(client, provider, code, **form)
        with pytest.raises(ProviderRejected):
            spec.access_token(refused.status_code, refused.json())
        code = authorize(client, provider)["code"]  # a refused exchange spends the code too
    assert exchange(client, provider, code).status_code == 200
    again = exchange(client, provider, code)
    if provider == "naver":  # Naver refuses with 200 and an error object
        assert again.status_code == 200 and again.json()["error"] == "invalid_request"
    else:
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_naver_and_google_want_the_client_secret(client: TestClient) -> None:
    for provider in ("naver", "google"):
        answer = exchange(client, provider, authorize(client, provider)["code"], client_secret="")
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    kakao = exchange(client, "kakao", authorize(client, "kakao")["code"], client_secret="")
    assert kakao.status_code == 200  # Kakao's secret is optional


def test_bad_authorize_requests_and_a_denied_login(client: TestClient) -> None:
    bad = client.get(PATHS["kakao"][0], params={"client_id": "app"}, follow_redirects=False)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    letters = authorize_status(client, "kakao", login_hint="alice")
    assert letters == 400  # Kakao ids are digits
    denied = authorize(client, "naver", mock_outcome="deny")
    assert denied == {
        "error": "access_denied",
        "error_description": "User denied access",
        "state": "s1",
    }


@pytest.mark.parametrize("provider", sorted(PATHS))
def test_authorize_requires_an_s256_pkce_challenge(client: TestClient, provider: str) -> None:
    missing = authorize_status(client, provider, code_challenge="", code_challenge_method="")
    plain = authorize_status(client, provider, code_challenge_method="plain")
    assert (missing, plain) == (400, 400)


@pytest.mark.parametrize("provider", sorted(PATHS))
@pytest.mark.parametrize("verifier", ["", "w" * 43], ids=["missing", "wrong"])
def test_a_missing_or_wrong_code_verifier_is_refused_and_spends_the_code(
    client: TestClient, provider: str, verifier: str
) -> None:
    code = authorize(client, provider)["code"]
    refused = exchange(client, provider, code, code_verifier=verifier)
    grant_error = "invalid_request" if provider == "naver" else "invalid_grant"  # Naver's words
    assert refused.json()["error"] == grant_error
    with pytest.raises(ProviderRejected):  # as the reference reads the answer
        PROVIDERS[provider].access_token(refused.status_code, refused.json())
    assert exchange(client, provider, code).json().get("error") == grant_error  # spent


def authorize_status(client: TestClient, provider: str, **params: str) -> int:
    query = {"response_type": "code", "client_id": "app", "redirect_uri": REDIRECT, **PKCE}
    query |= params
    return client.get(PATHS[provider][0], params=query, follow_redirects=False).status_code


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("kakao", {"msg": "this access token does not exist", "code": -401}),
        ("naver", {"resultcode": "024", "message": "Authentication failed"}),
        ("google", {"error": "invalid_request", "error_description": "Invalid Credentials"}),
    ],
)
def test_a_bad_token_is_refused_in_the_providers_words(
    client: TestClient, provider: str, body: dict[str, Any]
) -> None:
    answer = profile(client, provider, "not-a-token")
    assert answer.status_code == 401 and answer.json() == body
    # A token of another provider is no better.
    other = "google" if provider != "google" else "kakao"
    token = exchange(client, other, authorize(client, other)["code"]).json()["access_token"]
    assert profile(client, provider, token).status_code == 401


def test_injected_faults_then_normal_service(client: TestClient) -> None:
    client.post("/_mock/faults", json={"provider": "kakao", "endpoint": "token", "count": 2})
    code = authorize(client, "kakao")["code"]
    assert [exchange(client, "kakao", code).status_code for _ in range(2)] == [503, 503]
    assert exchange(client, "kakao", code).status_code == 200  # the code survived the faults
    client.post("/_mock/faults", json={"endpoint": "profile", "status": 500})
    other = exchange(client, "google", authorize(client, "google")["code"]).json()
    assert profile(client, "google", other["access_token"]).status_code == 500
    assert profile(client, "google", other["access_token"]).status_code == 200
    stats = client.get("/_mock/stats").json()
    assert stats["statuses"]["503"] == 2 and stats["statuses"]["500"] == 1
    assert stats["calls"]["kakao"]["token"] == 3 and stats["faults_pending"] == 0


def test_error_rate_and_hangs() -> None:
    config = MockOAuthConfig(latency_seconds=0, error_rate=1.0, hang_seconds=0.2)
    with TestClient(create_app(config)) as client:
        code = authorize(client, "kakao")["code"]
        assert exchange(client, "kakao", code).status_code == 503
        client.put("/_mock/config", json={"latency_seconds": 0, "hang_seconds": 0.2})
        client.post("/_mock/faults", json={"kind": "hang", "provider": "kakao"})
        started = time.perf_counter()
        assert exchange(client, "kakao", code).status_code == 503
        assert time.perf_counter() - started >= 0.2
        assert exchange(client, "kakao", code).status_code == 200


def test_latency_is_per_call_and_the_default_is_the_seeds() -> None:
    assert MockOAuthConfig().latency_seconds * 2 == pytest.approx(0.3)  # token + profile
    with TestClient(create_app(MockOAuthConfig(latency_seconds=0.1))) as client:
        code = authorize(client, "naver")["code"]
        started = time.perf_counter()
        token = exchange(client, "naver", code).json()["access_token"]
        profile(client, "naver", token)
        assert time.perf_counter() - started >= 0.2


def test_admin_api(client: TestClient) -> None:
    assert client.get("/_mock/config").json()["latency_seconds"] == 0
    for bad in ({"error_rate": 2}, {"latency_seconds": -1}, {"nope": 1}):
        assert client.put("/_mock/config", json=bad).status_code == 422
    assert client.post("/_mock/users", json={"provider": "kakao", "id": "abc"}).status_code == 422
    assert client.post("/_mock/users", json={"provider": "line"}).status_code == 422
    assert client.post("/_mock/faults", json={"status": 200}).status_code == 422
    made = client.post("/_mock/users", json={"provider": "kakao", "id": "42"}).json()
    assert made["id"] == "42" and made["nickname"] and made["email"]
    authorize(client, "kakao", login_hint="42")
    assert client.get("/_mock/stats").json()["users"] == 1
    assert client.post("/_mock/reset").json() == {
        "calls": {"kakao": {}, "naver": {}, "google": {}},
        "statuses": {},
        "users": 0,
        "faults_pending": 0,
    }


@pytest.mark.integration
def test_the_command_line_serves_the_providers() -> None:
    with start_fake_oauth("--hang-seconds", "2.5") as fake:
        answer = httpx.get(
            fake.url("kakao") + "/oauth/authorize",
            params={"response_type": "code", "client_id": "app", "redirect_uri": REDIRECT, **PKCE},
        )
        assert answer.status_code == 302 and "code=" in answer.headers["location"]
        config = httpx.get(f"{fake.base}/_mock/config").json()
        assert (config["latency_seconds"], config["hang_seconds"]) == (0, 2.5)


def test_the_command_line_refuses_a_bad_flag_naming_the_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--error-rate", "2"])
    assert exit_.value.code == 2
    assert "error_rate" in capsys.readouterr().err


def test_a_refused_config_is_a_stable_error_and_changes_nothing() -> None:
    with TestClient(create_app(MockOAuthConfig(latency_seconds=0))) as client:
        answer = client.put("/_mock/config", json={"latency_seconds": -1})
        assert answer.status_code == 422
        assert answer.json()["code"] == "invalid_config"
        assert answer.json()["errors"][0]["loc"] == ["latency_seconds"]
        assert client.get("/_mock/config").json()["latency_seconds"] == 0
