"""The OAuth ``state``: signed, bound to one provider and to the browser that started the
login, stored in Redis, usable once.

``<nonce>.<signature>``: the HMAC (keyed with the JWT secret) covers the provider and the
browser's binding, a random value in an HttpOnly cookie (:data:`BINDING_COOKIE`) set when the
login starts; it refuses a forged state, and a state started in another browser (login CSRF: an
attacker's own login completed in the victim's browser), without a Redis round trip. The Redis
record, taken with GETDEL, refuses a replayed or expired one.

The record holds the login's PKCE ``code_verifier`` (RFC 7636): the authorization URL carries
only its S256 challenge, and the token exchange sends the verifier, so a code intercepted on
its way back (another app on the phone claiming the redirect) is useless to whoever took it.
The verifier never leaves the server.
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


BINDING_COOKIE = "oauth_binding"
_BINDING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def browser_binding(cookie: str | None) -> str:
    """The browser's binding: its cookie's value when it is one we could have set, else new."""
    if cookie and 16 <= len(cookie) <= 64 and set(cookie) <= _BINDING_CHARS:
        return cookie
    return secrets.token_urlsafe(24)


def _signature(settings: Settings, provider: str, nonce: str, binding: str) -> str:
    digest = hmac.new(
        settings.jwt_secret.get_secret_value().encode(),
        f"oauth-state|{provider}|{nonce}|{binding}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(settings: Settings, provider: str, binding: str) -> tuple[str, str]:
    """A new state for a login with ``provider`` in the browser with ``binding``, valid for
    ``oauth_state_ttl_seconds``, and the S256 challenge of the login's PKCE verifier."""
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]: RFC 7636's 43-128
    get_redis(settings.redis_url).set(
        _key(settings, nonce), verifier.encode(), ex=settings.oauth_state_ttl_seconds
    )
    return f"{nonce}.{_signature(settings, provider, nonce, binding)}", code_challenge(verifier)


def _invalid(reason: str) -> ApiError:
    return ApiError(400, "invalid_state", f"the login state {reason}; start the login again")


def consume(settings: Settings, provider: str, state: str | None, binding: str | None) -> str:
    """Accept a state once, in the browser that started the login, and give back the login's
    PKCE verifier; ``invalid_state`` (400) when missing, forged, started elsewhere, spent or
    expired."""
    if not state:
        raise _invalid("is missing")
    if not binding:
        raise _invalid("was not started in this browser (no login cookie)")
    nonce, _, signature = state[:200].partition(".")
    expected = _signature(settings, provider, nonce, binding)
    if not nonce or not hmac.compare_digest(signature, expected):
        raise _invalid("was not issued here for this provider and this browser")
    verifier = get_redis(settings.redis_url).getdel(_key(settings, nonce))
    if verifier is None:
        raise _invalid("was already used or has expired")
    return verifier.decode() if isinstance(verifier, bytes) else str(verifier)
