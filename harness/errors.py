"""Harness failures (exit code 2): one line for the user, the long story for ``--debug``.

Every failure of the harness itself, in any phase (start-up, during the load, cleanup), reaches
the command line as a :class:`HarnessError`: ``message`` is one line saying what failed and
what to start or set, ``logs`` where the run's logs are, ``detail`` the log tails that explain
it (shown with ``--debug``, with the traceback). :func:`as_harness_error` is the one place
that turns any other exception into one.
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(RuntimeError):
    """The harness could not do its job (exit code 2); ``str()`` is the one-line message."""

    def __init__(self, message: str, *, detail: str = "", logs: Path | None = None) -> None:
        first, _, rest = message.strip().partition("\n")
        self.message = first
        self.detail = "\n".join(part for part in (rest.strip(), detail.strip()) if part)
        self.logs = logs
        super().__init__(first)

    def line(self) -> str:
        """What the user reads: the message and, when known, where the logs are."""
        return f"{self.message}; logs: {self.logs}" if self.logs else self.message


class CleanupError(HarnessError):
    """Tearing a run down failed (a server went away, a process would not stop)."""


def as_harness_error(exc: BaseException, *, logs: Path | None = None) -> HarnessError:
    """``exc`` as a harness failure naming ``logs`` (kept if it already names some)."""
    if isinstance(exc, HarnessError):
        if exc.logs is None:
            exc.logs = logs
        return exc
    text = str(exc).strip()
    first = text.splitlines()[0] if text else "(no message)"
    error = HarnessError(
        f"unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
        detail=text,
        logs=logs,
    )
    error.__cause__ = exc
    return error
