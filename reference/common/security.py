"""JWT access and refresh tokens, the revocation deny-list, and the current-user dependency.

A token is accepted from the ``Authorization: Bearer`` header or the ``access_token`` cookie.
Every failure is a 401 with a stable code: ``token_missing``, ``token_invalid``,
``token_expired``, ``token_revoked`` (or ``token_wrong_type`` for a refresh token used as an
access token and the reverse).

Revocation has two grains, both in Redis and both forgotten once no token they name can still
be valid: one token by its ``jti`` (logout, refresh rotation) and every token of a user issued
up to a moment (account deletion, a rotated refresh token presented again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request, Response

from reference.common.cache import Keys, get_redis
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


def _revoked_key(settings: Settings, jti: str) -> str:
    return Keys(settings.redis_prefix).revoked(jti)


def _user_cutoff_key(settings: Settings, user_id: uuid.UUID) -> str:
    return f"{settings.redis_prefix}revoked-user:{user_id}"


def _remaining_seconds(claims: TokenClaims) -> int:
    return int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1


def revoke(settings: Settings, claims: TokenClaims) -> None:
    """Deny a token until it would have expired anyway (the deny-list forgets it then)."""
    remaining = _remaining_seconds(claims)
    if remaining > 0:
        get_redis(settings.redis_url).set(_revoked_key(settings, claims.jti), b"1", ex=remaining)


def revoke_once(settings: Settings, claims: TokenClaims, reason: str) -> bool:
    """Deny a token, atomically: False when it was denied already (a concurrent refresh with
    the same token lost the race). ``reason`` is kept and read by :func:`revocation_reason`."""
    remaining = max(_remaining_seconds(claims), 1)
    key = _revoked_key(settings, claims.jti)
    return bool(get_redis(settings.redis_url).set(key, reason.encode(), ex=remaining, nx=True))


def revocation_reason(settings: Settings, jti: str) -> str | None:
    raw = get_redis(settings.redis_url).get(_revoked_key(settings, jti))
    return raw.decode() if raw is not None else None


def is_revoked(settings: Settings, jti: str) -> bool:
    return bool(get_redis(settings.redis_url).exists(_revoked_key(settings, jti)))


def revoke_user(settings: Settings, user_id: uuid.UUID) -> None:
    """Deny every token of a user issued up to now, on every device.

    Tokens carry their issue time in whole seconds, so one issued later within the same second
    is denied too (the app logs in again); no earlier token slips through.
    """
    now = int(datetime.now(UTC).timestamp())
    lifetime = int(timedelta(days=settings.refresh_token_days).total_seconds()) + 1
    get_redis(settings.redis_url).set(_user_cutoff_key(settings, user_id), str(now), ex=lifetime)


def decode(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    """Check a token's signature, issuer, expiry and type; not the deny-list (see verify)."""
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "typ", "jti", "exp", "iss"]},
        )
        issued = payload.get("iat")
        claims = TokenClaims(
            uuid.UUID(payload["sub"]),
            payload["typ"],
            str(payload["jti"]),
            datetime.fromtimestamp(payload["exp"], UTC),
            datetime.fromtimestamp(issued, UTC) if issued is not None else None,
        )
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "token_expired", "the token has expired; refresh or log in") from None
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, OverflowError):
        raise ApiError(
            401, "token_invalid", "the token is malformed or its signature is wrong"
        ) from None
    if claims.token_type != expected:
        raise ApiError(401, "token_wrong_type", f"a {expected} token is needed here")
    return claims


def denied(settings: Settings, claims: TokenClaims) -> bool:
    """Whether the token is on the deny-list or its user's tokens were all revoked since."""
    with get_redis(settings.redis_url).pipeline(transaction=False) as pipe:
        pipe.exists(_revoked_key(settings, claims.jti))
        pipe.get(_user_cutoff_key(settings, claims.user_id))
        revoked, cutoff = pipe.execute()
    if revoked:
        return True
    if cutoff is None:
        return False
    # A token without an issue time cannot prove it is newer than the cutoff.
    issued = int(claims.issued_at.timestamp()) if claims.issued_at else 0
    return issued <= int(cutoff)


def verify(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    """Decode and check a token: signature, issuer, expiry, type, and the deny-list."""
    claims = decode(settings, token, expected)
    if denied(settings, claims):
        raise ApiError(401, "token_revoked", "the token was revoked (logged out); log in again")
    return claims


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


def get_claims(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> TokenClaims:
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401, "token_missing", "log in first: send 'Authorization: Bearer <access token>'"
        )
    return verify(settings, token, "access")


def get_current_user_id(claims: Annotated[TokenClaims, Depends(get_claims)]) -> uuid.UUID:
    return claims.user_id


# The authenticated caller of a route; every service but auth's login requires it.
CurrentClaims = Annotated[TokenClaims, Depends(get_claims)]
CurrentUserId = Annotated[uuid.UUID, Depends(get_current_user_id)]
