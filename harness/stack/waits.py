"""Waiting on a condition with a deadline (never a blind sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    pass


class WaitAborted(RuntimeError):
    pass


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    describe: str = "condition",
    abort: Callable[[], str | None] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None/False; return that value.

    Exceptions from the probe count as "not yet"; the last one is named in the timeout error.
    ``abort`` returns a reason when waiting longer is pointless (the process died).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except Exception as exc:
            last_error = exc
        reason = abort() if abort else None
        if reason:
            raise WaitAborted(f"gave up waiting for {describe}: {reason}")
        if time.monotonic() >= deadline:
            detail = (
                f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            )
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {describe}{detail}")
        time.sleep(interval)
