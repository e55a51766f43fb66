"""auth-service routes: ``/api/v1/auth`` (social login, JWT pair, refresh, logout)."""

from __future__ import annotations

import logging
from typing import Annotated, get_args

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status

from reference.auth import oauth_state, providers, service
from reference.auth.models import NICKNAME_LENGTH
from reference.auth.providers import LoginCode, ProviderProfile, ProviderRejected
from reference.auth.schemas import (
    AccountOut,
    DevLoginRequest,
    LoginStart,
    LogoutRequest,
    RefreshRequest,
    TokenPair,
)
from reference.auth.verification import VerifyFn, verify_through_queue
from reference.common import limits, security
from reference.common.db import session_scope
from reference.common.deps import SettingsDep
from reference.common.errors import ApiError, error_responses
from reference.common.security import CurrentClaims, CurrentUserId
from reference.common.settings import Settings

log = logging.getLogger(__name__)

# The provider in a path: documented as the enum; an unknown one is 404 unknown_provider.
ProviderPath = Annotated[
    str,
    Path(
        description="The login provider.",
        json_schema_extra={"enum": list(get_args(providers.ProviderName))},
    ),
]

PREFIX = "/api/v1/auth"
router = APIRouter(prefix=PREFIX, tags=["auth"])


def get_verifier() -> VerifyFn:
    """How the callback checks a code: ``oauth.verify`` on q.api (tests may override)."""
    return verify_through_queue


VerifierDep = Annotated[VerifyFn, Depends(get_verifier)]


def _logged_in(
    response: Response, settings: Settings, provider: ProviderPath, who: ProviderProfile
) -> TokenPair:
    with session_scope(settings.database_url) as session:
        login = service.login(session, provider, who)
    pair, access = service.token_pair(settings, login.user_id, login.created)
    security.set_access_cookie(response, settings, access)
    return pair


@router.get(
    "/login/{provider}",
    response_model=LoginStart,
    responses=error_responses(404, 429, 503),
    summary="Start a social login: the provider's authorization URL with a single-use state",
)
def start_login(
    provider: ProviderPath, request: Request, response: Response, settings: SettingsDep
) -> LoginStart:
    spec = providers.get(provider)
    # Unauthenticated and each call writes a state to Redis: limited per client address.
    address = request.client.host if request.client else "unknown"
    limits.hit(settings, limits.LOGINS, address, limit=settings.limit_logins_per_minute)
    spec.client_secret(settings)  # refuse now, not after the user has logged in at the provider
    binding = oauth_state.browser_binding(request.cookies.get(oauth_state.BINDING_COOKIE))
    state, challenge = oauth_state.issue(settings, spec.name, binding)
    # The callback is a top-level redirect from the provider: SameSite=Lax sends the cookie.
    response.set_cookie(
        oauth_state.BINDING_COOKIE,
        binding,
        max_age=settings.oauth_state_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=not settings.development,
        path=PREFIX,
    )
    return LoginStart(
        provider=spec.name,
        authorization_url=spec.authorization_url(settings, state, challenge),
        state=state,
        redirect_uri=spec.redirect_uri(settings),
        expires_in=settings.oauth_state_ttl_seconds,
    )


@router.get(
    "/callback/{provider}",
    response_model=TokenPair,
    responses=error_responses(400, 404, 422, 502, 503, 504),
    summary="Where the provider sends the user back: check state and code, log in",
    description="Checks the state (single use), has `oauth.verify` on q.api exchange the code "
    "with the provider and read the profile, creates the account at the first login, and "
    "answers the token pair; the access token is also set as the `access_token` cookie.",
)
def callback(
    provider: ProviderPath,
    request: Request,
    response: Response,
    settings: SettingsDep,
    verify: VerifierDep,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> TokenPair:
    spec = providers.get(provider)
    verifier = oauth_state.consume(
        settings, spec.name, state, request.cookies.get(oauth_state.BINDING_COOKIE)
    )
    if error is not None:
        raise ApiError(400, "oauth_denied", f"{spec.name} login was not granted ({error})")
    if not code:
        raise ApiError(422, "invalid_request", "the callback needs the provider's code")
    assert state is not None
    try:
        login = LoginCode(code, state, spec.redirect_uri(settings), verifier)
        who = verify(settings, spec, login)
    except ProviderRejected as exc:
        # The provider's own error text stays in the log; the client gets the code.
        log.warning("%s refused a login: %s: %s", spec.name, exc.code, exc.message)
        raise ApiError(
            400, exc.code, f"{spec.name} did not accept the login; start it again"
        ) from None
    return _logged_in(response, settings, spec.name, who)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=error_responses(401, 422),
    summary="Trade a refresh token for a new pair (the old refresh token is revoked)",
)
def refresh(body: RefreshRequest, response: Response, settings: SettingsDep) -> TokenPair:
    with session_scope(settings.database_url) as session:
        pair, access = service.refresh(session, settings, body.refresh_token)
    security.set_access_cookie(response, settings, access)
    return pair


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 422),
    summary="Revoke the access token (and the refresh token when given); clear the cookie",
)
def logout(
    claims: CurrentClaims,
    settings: SettingsDep,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> Response:
    service.logout(settings, claims, body.refresh_token if body else None)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    security.clear_access_cookie(response, settings)
    return response


@router.get(
    "/me",
    response_model=AccountOut,
    responses=error_responses(401, 404),
    summary="The caller's account and the social identities linked to it",
)
def me(user_id: CurrentUserId, settings: SettingsDep) -> AccountOut:
    with session_scope(settings.database_url) as session:
        return service.account(session, user_id)


@router.post(
    "/dev-login",
    response_model=TokenPair,
    responses=error_responses(404, 422),
    summary="Development and test only: log in as a provider identity without the provider",
    description="Creates or finds the account of `provider`/`subject` exactly as the callback "
    "does and answers the same token pair, skipping the browser and the provider. For tests, "
    "the local stack and load generation. Answers 404 unless WASTECOACH_ENVIRONMENT=development.",
)
def dev_login(body: DevLoginRequest, response: Response, settings: SettingsDep) -> TokenPair:
    if not settings.development:
        raise ApiError(404, "not_found", "Not Found")
    spec = providers.get(body.provider)
    # The default nickname of a long subject (up to 128) is cut to the column (it overflowed it
    # and answered 500 for subjects of 95 characters or more).
    nickname = (body.nickname or f"{spec.name}-{body.subject}")[:NICKNAME_LENGTH]
    who = ProviderProfile(body.subject, nickname, body.email)
    return _logged_in(response, settings, spec.name, who)
