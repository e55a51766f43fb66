"""JWT access and refresh tokens, the revocation deny-list, and the current-user dependency.

A token is accepted from the ``Authorization: Bearer`` header or the ``access_token`` cookie.
Every failure is a 401 with a stable code: ``token_missing``, ``token_invalid``,
``token_expired``, ``token_revoked`` (or ``token_wrong_type`` for a refresh token used as an
access token and the reverse).

The deny-list itself (logout, refresh rotation, account deletion) is
:mod:`reference.common.revocation`: kept in PostgreSQL, mirrored in Redis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request, Response

from reference.common import revocation
from reference.common.errors import ApiError
from reference.common.settings import Settings, get_settings

ALGORITHM = "HS256"
ACCESS_COOKIE = "access_token"
TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    token_type: TokenType
    jti: str
    expires_at: datetime
    issued_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims


def issue(settings: Settings, user_id: uuid.UUID, token_type: TokenType) -> IssuedToken:
    now = datetime.now(UTC)
    lifetime = (
        timedelta(minutes=settings.access_token_minutes)
        if token_type == "access"
        else timedelta(days=settings.refresh_token_days)
    )
    claims = TokenClaims(user_id, token_type, uuid.uuid4().hex, now + lifetime, now)
    token = jwt.encode(
        {
            "sub": str(user_id),
            "typ": token_type,
            "jti": claims.jti,
            "iss": settings.jwt_issuer,
            "iat": now,
            "exp": claims.expires_at,
        },
        settings.jwt_secret.get_secret_value(),
        algorithm=ALGORITHM,
    )
    return IssuedToken(token, claims)


@lru_cache(maxsize=4096)
def _signed_claims(secret: str, issuer: str, token: str) -> TokenClaims:
    """A token's claims once its signature, issuer and expiry are checked. Cached (the app
    sends the same token with every poll, and checking the signature was a good part of a
    status request): only tokens that passed are kept, so a cached one needs its expiry checked
    again, and nothing else can change."""
    payload = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        issuer=issuer,
        options={"require": ["sub", "typ", "jti", "exp", "iss"]},
    )
    issued = payload.get("iat")
    return TokenClaims(
        uuid.UUID(payload["sub"]),
        payload["typ"],
        str(payload["jti"]),
        datetime.fromtimestamp(payload["exp"], UTC),
        datetime.fromtimestamp(issued, UTC) if issued is not None else None,
    )


def decode(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    """Check a token's signature, issuer, expiry and type; not the deny-list (see verify)."""
    try:
        claims = _signed_claims(settings.jwt_secret.get_secret_value(), settings.jwt_issuer, token)
    except jwt.ExpiredSignatureError:
        raise _expired() from None
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, OverflowError):
        raise ApiError(
            401, "token_invalid", "the token is malformed or its signature is wrong"
        ) from None
    if claims.expires_at <= datetime.now(UTC):  # a cached token may have expired since
        raise _expired()
    if claims.token_type != expected:
        raise ApiError(401, "token_wrong_type", f"a {expected} token is needed here")
    return claims


def _expired() -> ApiError:
    return ApiError(401, "token_expired", "the token has expired; refresh or log in")


def verify(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    """Decode and check a token: signature, issuer, expiry, type, and the deny-list."""
    claims = decode(settings, token, expected)
    if revocation.denied(settings, claims):
        raise revoked_error()
    return claims


def revoked_error() -> ApiError:
    return ApiError(401, "token_revoked", "the token was revoked (logged out); log in again")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(ACCESS_COOKIE)


def set_access_cookie(response: Response, settings: Settings, issued: IssuedToken) -> None:
    """The access token as an HttpOnly cookie, for the event stream and browsers (SameSite=Lax
    keeps other sites' forms from sending it)."""
    response.set_cookie(
        ACCESS_COOKIE,
        issued.token,
        max_age=settings.access_token_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=not settings.development,
        path="/",
    )


def clear_access_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        ACCESS_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=not settings.development,
    )


def required_token(request: Request) -> str:
    """The request's token; 401 ``token_missing`` without one."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401, "token_missing", "log in first: send 'Authorization: Bearer <access token>'"
        )
    return token


def get_claims(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> TokenClaims:
    return verify(settings, required_token(request), "access")


def get_current_user_id(claims: Annotated[TokenClaims, Depends(get_claims)]) -> uuid.UUID:
    return claims.user_id


# The authenticated caller of a route; every service but auth's login requires it.
CurrentClaims = Annotated[TokenClaims, Depends(get_claims)]
CurrentUserId = Annotated[uuid.UUID, Depends(get_current_user_id)]
