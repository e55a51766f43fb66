"""Composable readiness checks and the wait that polls them.

A check is a callable that returns when its condition holds and raises when it does not. A
provider waits on a list of them (typically "the process is still alive" and "the server
answers a real login"), so a server that dies during start-up fails at once instead of after
the whole timeout, and a timeout carries the tail of the server's log.
"""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from tenacity import (
    Retrying,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from harness.providers.base import ProviderError, ProviderTimeout

Check = Callable[[], object]
"""Returns when its condition holds, raises when it does not (yet)."""

LOG_TAIL_LINES = 40


class ServerGone(Exception):
    """Raised by a check when waiting longer cannot help (the server process has exited)."""


def process_alive(process: subprocess.Popen[bytes], what: str) -> Check:
    """A check that fails for good once ``process`` has exited."""

    def check() -> None:
        code = process.poll()
        if code is not None:
            raise ServerGone(f"{what} exited with code {code}")

    return check


def all_of(*checks: Check) -> Check:
    """One check made of several, evaluated in order."""

    def check() -> None:
        for each in checks:
            each()

    return check


def wait_ready(
    checks: Sequence[Check],
    *,
    timeout: float,
    what: str,
    logs: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``checks`` until all pass, raising :class:`ProviderError` with the log tail if not.

    Polling backs off from 50 ms to 0.5 s: quick for servers that start in a second, gentle on
    those that take ten.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.05, max=0.5),
        retry=retry_if_not_exception_type(ServerGone),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                all_of(*checks)()
    except ServerGone as exc:
        raise ProviderError(
            f"{what} stopped during start-up ({exc}); its log below says why",
            details=_with_heading(logs()),
        ) from exc
    except Exception as exc:
        raise ProviderTimeout(
            f"{what} was not ready within {timeout:g} s (last check: {_one_line(exc)}); "
            "its log below may say why, or allow a longer start-up timeout",
            details=_with_heading(logs()),
        ) from exc


def tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or ``""`` if it cannot be read."""
    try:
        with path.open("rb") as handle:
            last = deque(handle, maxlen=lines)
    except OSError:
        return ""
    return b"".join(last).decode("utf-8", errors="replace")


def tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def _with_heading(log: str) -> str:
    log = tail_text(log.rstrip())
    if not log:
        return "(the server wrote no log)"
    return f"--- last lines of the server's log ---\n{log}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
