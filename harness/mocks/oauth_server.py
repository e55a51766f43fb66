"""Fake social-login providers (Kakao, Naver, Google) for auth-service and ``oauth.verify``.

One app serves the three under path prefixes, each with the paths and JSON shapes of the real
API, so pointing ``WASTECOACH_OAUTH_<PROVIDER>_BASE_URL`` at ``http://127.0.0.1:8082/<provider>``
is all the reference needs:

- kakao: ``GET /kakao/oauth/authorize``, ``POST /kakao/oauth/token``, ``GET /kakao/v2/user/me``
- naver: ``GET /naver/oauth2.0/authorize``, ``POST /naver/oauth2.0/token``,
  ``GET /naver/v1/nid/me``
- google: ``GET /google/o/oauth2/v2/auth``, ``POST /google/token``, ``GET /google/v1/userinfo``

Authorize is non-interactive: it redirects straight back to ``redirect_uri`` with a code for the
user named by ``login_hint`` (created on first use; without it, the provider's default user), or
with ``error=access_denied`` when ``mock_outcome=deny``. Codes are single use and bound to the
client id and redirect URI (and, for Naver, the state), as the real providers bind them, and
to the PKCE challenge (RFC 7636, S256 only): authorize refuses a login without one
(``invalid_request``), and the token endpoint a missing or wrong ``code_verifier``
(``invalid_grant``, spending the code), so a client that drops PKCE cannot log in here.

Token and profile calls take ``latency_seconds`` each (0.15 s: the seed's ``oauth.verify`` is
0.3 s for both), fail at ``error_rate``, and obey injected faults. Admin: ``GET/PUT
/_mock/config``, ``POST /_mock/users``, ``POST /_mock/faults``, ``GET /_mock/stats``,
``POST /_mock/reset``, ``GET /healthz``. Run it with ``python -m harness.mocks.oauth_server``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.mocks import cli_config
from harness.mocks.admin import add_admin_routes

ProviderName = Literal["kakao", "naver", "google"]
PROVIDERS: tuple[ProviderName, ...] = ("kakao", "naver", "google")
Endpoint = Literal["token", "profile"]
CODE_TTL_SECONDS = 600.0  # Kakao's authorization codes live 10 minutes
TOKEN_TTL_SECONDS = 21599  # Kakao's access tokens: 6 hours less a second


class MockOAuthConfig(BaseModel):
    """How the fake providers behave; replaced at run time with ``PUT /_mock/config``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    latency_seconds: float = Field(0.15, ge=0, description="per token or profile call")
    error_rate: float = Field(0.0, ge=0, le=1, description="share of calls answered 503")
    hang_seconds: float = Field(30.0, ge=0, description="how long a 'hang' fault holds a call")
    seed: int = 0


class FakeUser(BaseModel):
    """A provider account; ``id`` is what the provider calls the user (Kakao: digits)."""

    provider: ProviderName
    id: str | None = Field(None, min_length=1, max_length=64)
    nickname: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=320)

    @model_validator(mode="after")
    def _kakao_ids_are_digits(self) -> Self:
        if self.provider == "kakao" and self.id is not None and not self.id.isdigit():
            raise ValueError("kakao user ids are digits")
        return self


class Fault(BaseModel):
    """The next ``count`` matching calls fail: an HTTP error or a hang (then 503)."""

    model_config = ConfigDict(extra="forbid")
    provider: ProviderName | None = None
    endpoint: Endpoint | None = None
    kind: Literal["error", "hang"] = "error"
    status: int = Field(503, ge=400, le=599)
    count: int = Field(1, ge=1, le=10_000)


@dataclass
class _Grant:
    provider: str
    user_id: str
    client_id: str
    redirect_uri: str
    state: str
    expires: float
    code_challenge: str = ""


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of a code verifier."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def default_user_id(provider: str, login: str = "default") -> str:
    """A stable provider id for a login name, shaped like the provider's own ids."""
    digest = hashlib.sha256(f"{provider}:{login}".encode()).hexdigest()
    if provider == "kakao":
        return str(1_000_000_000 + int(digest[:12], 16) % 9_000_000_000)
    if provider == "google":
        return str(10**20 + int(digest[:20], 16) % (9 * 10**20))
    return digest[:24]


class FakeProviders:
    """Users, codes, tokens, faults and call counts of the three fake providers."""

    def __init__(self, config: MockOAuthConfig | None = None) -> None:
        self.configure(config or MockOAuthConfig())
        self.reset()

    def configure(self, config: MockOAuthConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def reset(self) -> None:
        self.users: dict[tuple[str, str], FakeUser] = {}
        self.grants: dict[str, _Grant] = {}
        self.tokens: dict[str, tuple[str, str, float]] = {}
        self.faults: list[Fault] = []
        self.calls: Counter[tuple[str, str, int]] = Counter()

    def user(self, provider: str, user_id: str | None = None) -> FakeUser:
        """The user with this id, created with a stable nickname and e-mail on first use."""
        user_id = user_id or default_user_id(provider)
        key = (provider, user_id)
        if key not in self.users:
            short = user_id[-6:]
            self.users[key] = FakeUser(
                provider=provider,  # type: ignore[arg-type]
                id=user_id,
                nickname=f"{provider}-user-{short}",
                email=f"{provider}.{short}@example.com",
            )
        return self.users[key]

    def add_user(self, user: FakeUser) -> FakeUser:
        user_id = user.id or default_user_id(user.provider, secrets.token_hex(8))
        created = self.user(user.provider, user_id)
        updates = {k: v for k, v in user.model_dump().items() if v is not None}
        self.users[(user.provider, user_id)] = created.model_copy(update=updates | {"id": user_id})
        return self.users[(user.provider, user_id)]

    def grant(
        self,
        provider: str,
        user_id: str,
        client_id: str,
        redirect_uri: str,
        state: str,
        code_challenge: str = "",
    ) -> str:
        code = secrets.token_urlsafe(24)
        expires = time.monotonic() + CODE_TTL_SECONDS
        self.grants[code] = _Grant(
            provider, user_id, client_id, redirect_uri, state, expires, code_challenge
        )
        return code

    def redeem(
        self,
        provider: str,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        state: str | None,
        code_verifier: str | None = None,
    ) -> str | None:
        """An access token for a valid code whose PKCE verifier matches its challenge (and the
        code is spent either way), else None."""
        grant = self.grants.pop(code, None)
        if (
            grant is None
            or grant.provider != provider
            or grant.expires < time.monotonic()
            or grant.client_id != client_id
            or (redirect_uri is not None and grant.redirect_uri != redirect_uri)
            or (state is not None and grant.state != state)
            or not code_verifier
            or not hmac.compare_digest(s256(code_verifier), grant.code_challenge)
        ):
            return None
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (provider, grant.user_id, time.monotonic() + TOKEN_TTL_SECONDS)
        return token

    def holder(self, provider: str, authorization: str | None) -> FakeUser | None:
        scheme, _, token = (authorization or "").partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[0] != provider or entry[2] < time.monotonic():
            return None
        return self.user(provider, entry[1])

    def next_fault(self, provider: str, endpoint: str) -> Fault | None:
        for fault in self.faults:
            if fault.provider in (None, provider) and fault.endpoint in (None, endpoint):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        if self.config.error_rate and self.rng.random() < self.config.error_rate:
            return Fault(provider=provider, endpoint=endpoint)  # type: ignore[arg-type]
        return None

    def stats(self) -> dict[str, Any]:
        calls: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
        statuses: dict[str, int] = {}
        for (provider, endpoint, status), n in self.calls.items():
            calls[provider][endpoint] = calls[provider].get(endpoint, 0) + n
            statuses[str(status)] = statuses.get(str(status), 0) + n
        return {
            "calls": calls,
            "statuses": statuses,
            "users": len(self.users),
            "faults_pending": sum(f.count for f in self.faults),
        }


# --- the providers' wire formats ---------------------------------------------------------


def _token_body(provider: str, token: str) -> dict[str, Any]:
    if provider == "kakao":
        return {
            "token_type": "bearer",
            "access_token": token,
            "expires_in": TOKEN_TTL_SECONDS,
            "refresh_token": secrets.token_urlsafe(32),
            "refresh_token_expires_in": 5183999,
            "scope": "account_email profile_nickname",
        }
    if provider == "naver":
        # Naver sends expires_in as a string.
        return {
            "access_token": token,
            "refresh_token": secrets.token_urlsafe(32),
            "token_type": "bearer",
            "expires_in": "3600",
        }
    return {
        "access_token": token,
        "expires_in": 3599,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        "token_type": "Bearer",
        "id_token": secrets.token_urlsafe(48),
    }


def _token_error(provider: str, description: str) -> JSONResponse:
    if provider == "kakao":
        body = {"error": "invalid_grant", "error_description": description, "error_code": "KOE320"}
        return JSONResponse(body, status_code=400)
    if provider == "naver":
        # Naver answers a bad code with 200 and an error object, not with a 4xx.
        return JSONResponse({"error": "invalid_request", "error_description": description})
    return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)


def _profile_body(user: FakeUser) -> dict[str, Any]:
    if user.provider == "kakao":
        assert user.id is not None
        return {
            "id": int(user.id) if user.id.isdigit() else user.id,
            "connected_at": "2025-10-31T00:00:00Z",
            "properties": {"nickname": user.nickname},
            "kakao_account": {
                "profile_nickname_needs_agreement": False,
                "profile": {"nickname": user.nickname, "is_default_nickname": False},
                "has_email": user.email is not None,
                "email_needs_agreement": False,
                "is_email_valid": True,
                "is_email_verified": True,
                "email": user.email,
            },
        }
    if user.provider == "naver":
        return {
            "resultcode": "00",
            "message": "success",
            "response": {"id": user.id, "nickname": user.nickname, "email": user.email},
        }
    return {
        "sub": user.id,
        "name": user.nickname,
        "given_name": user.nickname,
        "email": user.email,
        "email_verified": True,
    }


def _unauthorized(provider: str) -> JSONResponse:
    if provider == "kakao":
        return JSONResponse({"msg": "this access token does not exist", "code": -401}, 401)
    if provider == "naver":
        return JSONResponse({"resultcode": "024", "message": "Authentication failed"}, 401)
    return JSONResponse(
        {"error": "invalid_request", "error_description": "Invalid Credentials"}, 401
    )


# --- the app ------------------------------------------------------------------------------


def create_app(config: MockOAuthConfig | None = None) -> FastAPI:
    """The fake providers as an ASGI app; ``app.state.fake`` is its :class:`FakeProviders`."""
    fake = FakeProviders(config)
    app = FastAPI(title="Fake OAuth providers (wastecoach harness)", docs_url=None, redoc_url=None)
    app.state.fake = fake

    async def faulted(provider: str, endpoint: str) -> JSONResponse | None:
        """Sleep the configured latency; answer an injected fault if one is due."""
        fault = fake.next_fault(provider, endpoint)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fake.config.hang_seconds)
        elif fake.config.latency_seconds:
            await asyncio.sleep(fake.config.latency_seconds)
        if fault is None:
            return None
        fake.calls[(provider, endpoint, fault.status)] += 1
        return JSONResponse(
            {"error": "server_error", "error_description": "injected fault"},
            status_code=fault.status,
        )

    def authorize(provider: str):  # type: ignore[no-untyped-def]
        async def handler(
            response_type: str = "",
            client_id: str = "",
            redirect_uri: str = "",
            state: str = "",
            code_challenge: str = "",
            code_challenge_method: str = "",
            login_hint: str | None = None,
            mock_outcome: Literal["allow", "deny"] = "allow",
        ) -> JSONResponse | RedirectResponse:
            refusal = None
            if response_type != "code" or not client_id or not redirect_uri:
                refusal = "response_type=code, client_id and redirect_uri are required"
            elif not code_challenge or code_challenge_method != "S256":
                refusal = "PKCE is required: code_challenge with code_challenge_method=S256"
            elif provider == "kakao" and login_hint is not None and not login_hint.isdigit():
                refusal = "kakao ids are digits"
            if refusal is not None:
                fake.calls[(provider, "authorize", 400)] += 1
                return JSONResponse(
                    {"error": "invalid_request", "error_description": refusal}, status_code=400
                )
            fake.calls[(provider, "authorize", 302)] += 1
            separator = "&" if "?" in redirect_uri else "?"
            if mock_outcome == "deny":
                query = {"error": "access_denied", "error_description": "User denied access"}
            else:
                user = fake.user(provider, login_hint)
                assert user.id is not None
                code = fake.grant(provider, user.id, client_id, redirect_uri, state, code_challenge)
                query = {"code": code}
            if state:
                query["state"] = state
            return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", 302)

        return handler

    def token(provider: str):  # type: ignore[no-untyped-def]
        async def handler(request: Request) -> JSONResponse:
            # application/x-www-form-urlencoded, read by hand (no python-multipart needed).
            form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
            grant_type, code = form.get("grant_type", ""), form.get("code", "")
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
            redirect_uri, state = form.get("redirect_uri"), form.get("state")
            failure = await faulted(provider, "token")
            if failure is not None:
                return failure
            if provider != "kakao" and not client_secret:
                fake.calls[(provider, "token", 401)] += 1
                return JSONResponse(
                    {"error": "invalid_client", "error_description": "client_secret missing"}, 401
                )
            if grant_type != "authorization_code":
                answer = _token_error(provider, f"unsupported grant_type {grant_type!r}")
            else:
                # Naver binds the code to the state, the others to the redirect URI.
                access = fake.redeem(
                    provider,
                    code,
                    client_id,
                    None if provider == "naver" else (redirect_uri or ""),
                    state if provider == "naver" else None,
                    form.get("code_verifier"),
                )
                if access is None:
                    answer = _token_error(
                        provider,
                        f"authorization code not found for {code=}, or its PKCE "
                        "code_verifier is missing or does not match",
                    )
                else:
                    answer = JSONResponse(_token_body(provider, access))
            fake.calls[(provider, "token", answer.status_code)] += 1
            return answer

        return handler

    def profile(provider: str):  # type: ignore[no-untyped-def]
        async def handler(request: Request) -> JSONResponse:
            failure = await faulted(provider, "profile")
            if failure is not None:
                return failure
            user = fake.holder(provider, request.headers.get("authorization"))
            answer = _unauthorized(provider) if user is None else JSONResponse(_profile_body(user))
            fake.calls[(provider, "profile", answer.status_code)] += 1
            return answer

        return handler

    paths = {
        "kakao": ("/oauth/authorize", "/oauth/token", "/v2/user/me"),
        "naver": ("/oauth2.0/authorize", "/oauth2.0/token", "/v1/nid/me"),
        "google": ("/o/oauth2/v2/auth", "/token", "/v1/userinfo"),
    }
    for provider, (authorize_path, token_path, profile_path) in paths.items():
        app.get(f"/{provider}{authorize_path}", response_model=None)(authorize(provider))
        app.post(f"/{provider}{token_path}")(token(provider))
        app.get(f"/{provider}{profile_path}")(profile(provider))

    @app.post("/_mock/users", status_code=201)
    async def add_user(user: FakeUser) -> FakeUser:
        return fake.add_user(user)

    @app.post("/_mock/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, Any]:
        fake.faults.append(fault)
        return fake.stats()

    add_admin_routes(app, fake, MockOAuthConfig)
    return app


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m harness.mocks.oauth_server``."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.mocks.oauth_server",
        description="Serve fake Kakao, Naver and Google OAuth providers.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    cli_config.add_config_argument(parser, MockOAuthConfig)
    parser.add_argument(
        "--latency", dest="latency_seconds", type=float, help="seconds per call (default 0.15)"
    )
    parser.add_argument("--error-rate", type=float)
    parser.add_argument("--hang-seconds", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve the fake providers until interrupted."""
    cli_config.serve(build_parser(), MockOAuthConfig, "fake OAuth", create_app, argv)


if __name__ == "__main__":
    main()
