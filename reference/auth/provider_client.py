"""The provider calls behind ``oauth.verify``: exchange the code, read the profile.

A sync ``httpx`` client with one shared connection pool per process (the api worker runs a
threads pool), retried with backoff on 5xx, 429, time-outs and connection errors; refusals
(a bad or spent code, a bad token) are not retried.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reference.auth.providers import LoginCode, Provider, ProviderProfile, ProviderRejected
from reference.common.settings import Settings


class ProviderUnavailable(Exception):
    """The provider did not answer usefully after every attempt (5xx, 429, time-outs)."""


class _Transient(Exception):
    pass


_CLIENT: httpx.Client | None = None
_CLIENT_LOCK = threading.Lock()


def http_client() -> httpx.Client:
    """The process's client; its pool is shared by the worker's threads."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                headers={"User-Agent": "wastecoach-auth/0.1"},
            )
        return _CLIENT


def _call(request: httpx.Request) -> tuple[int, dict[str, Any]]:
    try:
        answer = http_client().send(request)
    except httpx.TransportError as exc:  # time-outs, refused or reset connections
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    if answer.status_code >= 500 or answer.status_code == 429:
        raise _Transient(f"HTTP {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        raise _Transient(f"HTTP {answer.status_code} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise _Transient(f"HTTP {answer.status_code} with JSON that is not an object")
    return answer.status_code, body


def _retried(settings: Settings, request: httpx.Request, what: str) -> tuple[int, dict[str, Any]]:
    retrying = Retrying(
        stop=stop_after_attempt(settings.oauth_attempts),
        wait=wait_exponential(multiplier=settings.oauth_backoff_initial_seconds, max=2.0),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        return retrying(_call, request)
    except _Transient as exc:
        raise ProviderUnavailable(
            f"{what}: no usable answer after {settings.oauth_attempts} attempts ({exc})"
        ) from None


def verify_code(settings: Settings, provider: Provider, login: LoginCode) -> ProviderProfile:
    """Trade a login code for the provider's access token, then read who it belongs to.

    Raises ProviderRejected (the provider said no) or ProviderUnavailable (it did not answer).
    """
    token_request = http_client().build_request(
        "POST",
        provider.url(settings, "token"),
        data=provider.token_request(settings, login),
        headers={"Accept": "application/json"},
        timeout=settings.oauth_http_timeout_seconds,
    )
    status, body = _retried(settings, token_request, f"{provider.name} token")
    access_token = provider.access_token(status, body)
    profile_request = http_client().build_request(
        "GET",
        provider.url(settings, "profile"),
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=settings.oauth_http_timeout_seconds,
    )
    status, body = _retried(settings, profile_request, f"{provider.name} profile")
    if status >= 400:
        raise ProviderRejected("provider_rejected", f"{provider.name} refused its own token")
    try:
        return provider.read_profile(body)
    except (KeyError, TypeError) as exc:
        raise ProviderRejected(
            "provider_rejected", f"{provider.name} profile lacks {exc}"
        ) from None
