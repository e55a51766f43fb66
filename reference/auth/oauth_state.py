"""The OAuth ``state``: signed, bound to one provider, stored in Redis, usable once.

``<nonce>.<signature>``: the HMAC (keyed with the JWT secret) refuses a forged state without a
Redis round trip; the Redis record, taken with GETDEL, refuses a replayed or expired one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from reference.common.cache import get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings


def _key(settings: Settings, nonce: str) -> str:
    return f"{settings.redis_prefix}oauth-state:{nonce}"


def _signature(settings: Settings, provider: str, nonce: str) -> str:
    digest = hmac.new(
        settings.jwt_secret.get_secret_value().encode(),
        f"oauth-state|{provider}|{nonce}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(settings: Settings, provider: str) -> str:
    """A new state for a login with ``provider``, valid for ``oauth_state_ttl_seconds``."""
    nonce = secrets.token_urlsafe(24)
    get_redis(settings.redis_url).set(
        _key(settings, nonce), provider.encode(), ex=settings.oauth_state_ttl_seconds
    )
    return f"{nonce}.{_signature(settings, provider, nonce)}"


def _invalid(reason: str) -> ApiError:
    return ApiError(400, "invalid_state", f"the login state {reason}; start the login again")


def consume(settings: Settings, provider: str, state: str | None) -> None:
    """Accept a state once; ``invalid_state`` (400) when missing, forged, spent or expired."""
    if not state:
        raise _invalid("is missing")
    nonce, _, signature = state[:200].partition(".")
    if not nonce or not hmac.compare_digest(signature, _signature(settings, provider, nonce)):
        raise _invalid("was not issued here for this provider")
    if get_redis(settings.redis_url).getdel(_key(settings, nonce)) is None:
        raise _invalid("was already used or has expired")
