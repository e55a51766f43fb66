"""The social-login providers: where their OAuth endpoints are and how their answers read.

Each provider keeps its real API's paths; settings say which base URL each endpoint's path goes
under: ``WASTECOACH_OAUTH_<PROVIDER>_BASE_URL`` for the token endpoint, and for the authorize and
profile endpoints too unless ``..._AUTHORIZE_BASE_URL`` or ``..._PROFILE_BASE_URL`` is set (the
real providers serve them from other hosts). The fakes in ``harness.mocks.oauth_server`` serve
all three under one base URL per provider, so they need only the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from reference.auth.models import NICKNAME_LENGTH
from reference.common.errors import ApiError
from reference.common.settings import DEV_SECRET, Settings

Endpoint = Literal["authorize", "token", "profile"]
# The login providers, as the API's paths and bodies accept them (PROVIDERS has one of each).
ProviderName = Literal["kakao", "naver", "google"]


@dataclass(frozen=True)
class ProviderProfile:
    """Who the provider says logged in."""

    subject: str
    nickname: str | None
    email: str | None


@dataclass(frozen=True)
class LoginCode:
    """A login to trade with its provider: what the callback brought back (``code``, ``state``),
    where it was sent (``redirect_uri``) and the login's PKCE ``code_verifier``
    (reference.auth.oauth_state), which never left the server."""

    code: str
    state: str
    redirect_uri: str
    code_verifier: str


class ProviderRejected(Exception):
    """The provider refused the code or the token (a client error: retrying will not help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(value: object, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _kakao_profile(body: Mapping[str, Any]) -> ProviderProfile:
    account = body.get("kakao_account") or {}
    nickname = (account.get("profile") or {}).get("nickname") or (body.get("properties") or {}).get(
        "nickname"
    )
    return ProviderProfile(
        str(body["id"]), _text(nickname, NICKNAME_LENGTH), _text(account.get("email"), 320)
    )


def _naver_profile(body: Mapping[str, Any]) -> ProviderProfile:
    if body.get("resultcode") != "00":
        raise ProviderRejected("provider_rejected", f"naver: {body.get('message', 'error')}")
    data = body["response"]
    return ProviderProfile(
        str(data["id"]), _text(data.get("nickname"), NICKNAME_LENGTH), _text(data.get("email"), 320)
    )


def _google_profile(body: Mapping[str, Any]) -> ProviderProfile:
    return ProviderProfile(
        str(body["sub"]), _text(body.get("name"), NICKNAME_LENGTH), _text(body.get("email"), 320)
    )


@dataclass(frozen=True)
class Provider:
    name: str
    authorize_path: str
    token_path: str
    profile_path: str
    scope: str
    read_profile: Callable[[Mapping[str, Any]], ProviderProfile]
    # Naver binds the code to the state and wants it back at the token exchange.
    state_in_token_request: bool = False

    def path(self, endpoint: Endpoint) -> str:
        return {
            "authorize": self.authorize_path,
            "token": self.token_path,
            "profile": self.profile_path,
        }[endpoint]

    def base_url(self, settings: Settings, endpoint: Endpoint) -> str:
        """``oauth_<name>_<endpoint>_base_url`` when set (authorize and profile have one), else
        ``oauth_<name>_base_url``."""
        base = getattr(settings, f"oauth_{self.name}_base_url")
        if endpoint != "token":
            base = getattr(settings, f"oauth_{self.name}_{endpoint}_base_url") or base
        return str(base).rstrip("/")

    def url(self, settings: Settings, endpoint: Endpoint) -> str:
        """Where one of the provider's endpoints is (without a query)."""
        return f"{self.base_url(settings, endpoint)}{self.path(endpoint)}"

    def client_id(self, settings: Settings) -> str:
        return str(getattr(settings, f"oauth_{self.name}_client_id"))

    def client_secret(self, settings: Settings) -> str:
        secret = getattr(settings, f"oauth_{self.name}_client_secret").get_secret_value()
        if not settings.development and secret == DEV_SECRET:
            raise ApiError(
                503,
                "provider_not_configured",
                f"{self.name} login is not configured: set "
                f"WASTECOACH_OAUTH_{self.name.upper()}_CLIENT_SECRET",
            )
        return secret

    def redirect_uri(self, settings: Settings) -> str:
        base = settings.oauth_redirect_base_url.rstrip("/")
        return f"{base}/api/v1/auth/callback/{self.name}"

    def authorization_url(self, settings: Settings, state: str, code_challenge: str) -> str:
        """Where the browser logs in; ``code_challenge`` is the S256 challenge of the login's
        PKCE verifier (reference.auth.oauth_state)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id(settings),
            "redirect_uri": self.redirect_uri(settings),
            "state": state,
            "scope": self.scope,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.url(settings, 'authorize')}?{urlencode(query)}"

    def token_request(self, settings: Settings, login: LoginCode) -> dict[str, str]:
        form = {
            "grant_type": "authorization_code",
            "client_id": self.client_id(settings),
            "client_secret": self.client_secret(settings),
            "code": login.code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        if self.state_in_token_request:
            form["state"] = login.state
        return form

    def access_token(self, status: int, body: Mapping[str, Any]) -> str:
        """The access token of a token answer; ProviderRejected for a refused code (Naver
        answers those with 200 and an ``error`` field)."""
        token = body.get("access_token")
        if status >= 400 or "error" in body or not isinstance(token, str) or not token:
            detail = body.get("error_description") or body.get("error") or f"HTTP {status}"
            raise ProviderRejected("provider_rejected", f"{self.name} refused the code: {detail}")
        return token


PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        Provider(
            "kakao",
            "/oauth/authorize",
            "/oauth/token",
            "/v2/user/me",
            "profile_nickname account_email",
            _kakao_profile,
        ),
        Provider(
            "naver",
            "/oauth2.0/authorize",
            "/oauth2.0/token",
            "/v1/nid/me",
            "name email",
            _naver_profile,
            state_in_token_request=True,
        ),
        Provider(
            "google",
            "/o/oauth2/v2/auth",
            "/token",
            "/v1/userinfo",
            "openid email profile",
            _google_profile,
        ),
    )
}


def get(name: str) -> Provider:
    """The provider by name; 404 ``unknown_provider`` otherwise (a path names no resource)."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ApiError(
            404,
            "unknown_provider",
            f"no login provider {name[:32]!r}; use one of {', '.join(PROVIDERS)}",
        ) from None
