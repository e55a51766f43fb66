"""Where each provider's endpoints are: under one base URL by default (the fake), or on the hosts
the real providers split them across, and the provider calls go there."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reference.auth import provider_client
from reference.auth.providers import PROVIDERS, Endpoint, LoginCode
from reference.common.settings import Settings
from tests.real_providers import REAL_OAUTH_ENDPOINTS

ENDPOINTS: tuple[Endpoint, ...] = ("authorize", "token", "profile")

# The real providers' hosts, as cluster/overlays/ec2/settings.env gives them.
REAL_HOSTS = {
    "oauth_kakao_base_url": "https://kauth.kakao.com",
    "oauth_kakao_profile_base_url": "https://kapi.kakao.com",
    "oauth_naver_base_url": "https://nid.naver.com",
    "oauth_naver_profile_base_url": "https://openapi.naver.com",
    "oauth_google_base_url": "https://oauth2.googleapis.com",
    "oauth_google_authorize_base_url": "https://accounts.google.com",
    "oauth_google_profile_base_url": "https://openidconnect.googleapis.com",
}


@pytest.fixture(autouse=True)
def _no_oauth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults are under test: none of this process's provider settings may leak in."""
    for name in Settings.model_fields:
        if name.startswith("oauth_"):
            monkeypatch.delenv(f"WASTECOACH_{name.upper()}", raising=False)


def urls(settings: Settings, provider: str) -> tuple[str, ...]:
    return tuple(PROVIDERS[provider].url(settings, endpoint) for endpoint in ENDPOINTS)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_by_default_every_endpoint_is_under_the_fakes_prefix(provider: str) -> None:
    spec = PROVIDERS[provider]
    base = f"http://127.0.0.1:8082/{provider}"
    assert urls(Settings(), provider) == (
        f"{base}{spec.authorize_path}",
        f"{base}{spec.token_path}",
        f"{base}{spec.profile_path}",
    )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_split_hosts_reach_the_real_endpoints(provider: str) -> None:
    assert urls(Settings(**REAL_HOSTS), provider) == REAL_OAUTH_ENDPOINTS[provider]


def test_only_the_endpoint_whose_base_is_set_moves() -> None:
    settings = Settings(
        oauth_naver_base_url="https://oauth.example/naver/",  # a trailing slash is dropped
        oauth_naver_profile_base_url="https://api.example/",
    )
    assert urls(settings, "naver") == (
        "https://oauth.example/naver/oauth2.0/authorize",
        "https://oauth.example/naver/oauth2.0/token",
        "https://api.example/v1/nid/me",
    )
    assert urls(settings, "kakao")[2] == "http://127.0.0.1:8082/kakao/v2/user/me"


def test_an_empty_endpoint_setting_means_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a ConfigMap key with no value gives the pod.
    monkeypatch.setenv("WASTECOACH_OAUTH_GOOGLE_BASE_URL", "https://oauth2.googleapis.com")
    monkeypatch.setenv("WASTECOACH_OAUTH_GOOGLE_AUTHORIZE_BASE_URL", "")
    monkeypatch.setenv("WASTECOACH_OAUTH_GOOGLE_PROFILE_BASE_URL", "")
    settings = Settings()
    assert settings.to_env()["WASTECOACH_OAUTH_GOOGLE_PROFILE_BASE_URL"] == ""
    assert {urlsplit(url).netloc for url in urls(settings, "google")} == {"oauth2.googleapis.com"}


def test_the_authorization_url_is_on_the_authorize_host() -> None:
    settings = Settings(**REAL_HOSTS)
    url = urlsplit(PROVIDERS["google"].authorization_url(settings, "the-state", "the-challenge"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == REAL_OAUTH_ENDPOINTS["google"][0]
    query = {key: value[0] for key, value in parse_qs(url.query).items()}
    assert query["state"] == "the-state"
    assert (query["code_challenge"], query["code_challenge_method"]) == ("the-challenge", "S256")
    assert query["client_id"] == settings.oauth_google_client_id


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Request]]:
    """The provider calls, answered in process: a token, then Google's userinfo."""
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "POST":
            return httpx.Response(200, json={"access_token": "at-1", "token_type": "Bearer"})
        return httpx.Response(200, json={"sub": "g-1", "name": "Ann", "email": "ann@example.com"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        monkeypatch.setattr(provider_client, "_CLIENT", client)
        yield calls


def test_verify_code_calls_the_token_and_profile_hosts(recorded: list[httpx.Request]) -> None:
    settings = Settings(**REAL_HOSTS)
    login = LoginCode("the-code", "the-state", "https://app.example/cb", "the-verifier")
    profile = provider_client.verify_code(settings, PROVIDERS["google"], login)
    assert (profile.subject, profile.email) == ("g-1", "ann@example.com")
    assert [(call.method, str(call.url)) for call in recorded] == [
        ("POST", REAL_OAUTH_ENDPOINTS["google"][1]),
        ("GET", REAL_OAUTH_ENDPOINTS["google"][2]),
    ]
    assert recorded[1].headers["Authorization"] == "Bearer at-1"
    form = parse_qs(recorded[0].content.decode())
    assert form["code_verifier"] == ["the-verifier"]  # PKCE: the verifier goes to the token call


def test_the_provider_names_are_the_providers() -> None:
    from typing import get_args

    from reference.auth.providers import PROVIDERS, ProviderName

    assert set(get_args(ProviderName)) == set(PROVIDERS)
