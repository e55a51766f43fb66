"""The one probe of a run's target (the gateway): made once per run, by the harness or, when
the load runs alone, by ``python -m loadtests``."""

from __future__ import annotations

import httpx


class TargetError(RuntimeError):
    """The target does not answer or is not ready; the message is one line."""


def check_target(base_url: str, timeout: float = 10.0) -> None:
    """Fail with one line unless ``base_url``'s ``/readyz`` answers 200."""
    url = f"{base_url.rstrip('/')}/readyz"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise TargetError(
            f"target {base_url} does not answer ({type(exc).__name__}: {exc}); start the stack "
            "(wastecoach up) or pass the URL it printed"
        ) from None
    if answer.status_code != 200:
        raise TargetError(
            f"target {base_url} is not ready: {url} answers HTTP {answer.status_code} "
            f"{answer.text[:300]!r}; is it the wastecoach gateway, and healthy?"
        )
