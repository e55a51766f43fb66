"""Logging in as the app does, for the harness (local stack, benchmark, load tests, e2e).

``dev_login`` uses auth-service's development shortcut (``POST /api/v1/auth/dev-login``): the
same account creation and token issue as a social login, without the browser and the provider.
The service refuses it (404) when ``WASTECOACH_ENVIRONMENT=production``.
"""

from __future__ import annotations

import uuid

import httpx

DEV_LOGIN = "/api/v1/auth/dev-login"


class LoginError(RuntimeError):
    """The API would not log the harness in; the message says why and what to check."""


def dev_login(
    base_url: str,
    *,
    provider: str = "kakao",
    subject: str | None = None,
    http: httpx.Client | None = None,
    timeout: float = 10.0,
) -> str:
    """An access token of the development user ``provider``/``subject`` (a new user each call
    when ``subject`` is None), for ``WasteClient(base_url, token=...)``."""
    body = {"provider": provider, "subject": subject or f"harness-{uuid.uuid4().hex[:16]}"}
    client = http or httpx.Client(timeout=timeout)
    try:
        answer = client.post(f"{base_url.rstrip('/')}{DEV_LOGIN}", json=body)
    except httpx.HTTPError as exc:
        raise LoginError(f"dev-login at {base_url}: {type(exc).__name__}: {exc}") from None
    finally:
        if http is None:
            client.close()
    if answer.status_code == 404:
        raise LoginError(
            f"dev-login is not available at {base_url}: auth-service is not routed there, or it "
            "runs with WASTECOACH_ENVIRONMENT=production (log in through a provider instead)"
        )
    if answer.status_code != 200:
        raise LoginError(f"dev-login at {base_url}: HTTP {answer.status_code} {answer.text[:300]}")
    return str(answer.json()["access_token"])
