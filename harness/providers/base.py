"""The interface every storage provider implements, and the errors they raise.

A provider brings one server of the storage tier (PostgreSQL, Redis or RabbitMQ) within reach
in one of three ways (``running``, ``ephemeral``, ``container``) and hands out the URL the
reference app reads from its settings. The habits are testcontainers': ``start()``/``stop()``,
use as a context manager, ``url()``, and the server's log attached to a start-up failure.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from harness.providers.kinds import KindSpec

Kind = Literal["postgres", "redis", "rabbitmq"]
Mode = Literal["running", "ephemeral", "container"]


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class ProviderError(RuntimeError):
    """A provider could not be chosen, started or stopped.

    ``message`` is one line saying what is missing and what to do about it; ``details`` holds
    supporting text (such as the tail of the server's log) shown below that line.
    """

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.message}\n{self.details}" if self.details else self.message


class ProviderTimeout(ProviderError):
    """The server did not become ready within its start-up timeout."""


class Provider(ABC):
    """One server of the storage tier, started (or found) and stopped by this object.

    Subclasses implement :meth:`check_available`, :meth:`_start` and :meth:`_stop`; this class
    makes ``start()`` idempotent, times it, and guarantees that a failed start leaves nothing
    running behind.
    """

    mode: ClassVar[Mode]

    def __init__(self, spec: KindSpec) -> None:
        self.spec = spec
        self._url: str | None = None
        #: Seconds the last successful ``start()`` took (``None`` before the first one).
        self.startup_seconds: float | None = None

    @property
    def kind(self) -> Kind:
        """Which server this is: ``postgres``, ``redis`` or ``rabbitmq``."""
        return self.spec.kind

    @abstractmethod
    def check_available(self) -> None:
        """Raise :class:`ProviderError` if this way of providing the server cannot work here.

        Cheap and side-effect free: it looks for binaries, probes a server or pings Docker, but
        starts nothing.
        """

    @abstractmethod
    def _start(self) -> str:
        """Bring the server up and return its URL."""

    @abstractmethod
    def _stop(self) -> None:
        """Release whatever ``_start`` acquired; must be safe to call after a partial start."""

    @property
    def started(self) -> bool:
        """Whether ``start()`` succeeded and ``stop()`` has not been called since."""
        return self._url is not None

    def start(self) -> Self:
        """Start the server and wait until it answers; a no-op if already started."""
        if self._url is not None:
            return self
        began = time.monotonic()
        try:
            self._url = self._start()
        except BaseException:
            # Also on KeyboardInterrupt: a half-started server must not outlive the caller.
            with suppress(Exception):
                self._stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server (if this provider started it) and release its resources."""
        try:
            self._stop()
        finally:
            self._url = None

    def url(self) -> str:
        """The URL the reference app uses for this server (``WASTECOACH_*_URL``)."""
        if self._url is None:
            raise ProviderError(
                f"{self.spec.title} ({self.mode}) is not started; call start() first "
                "or use the provider as a context manager"
            )
        return self._url

    def env(self) -> dict[str, str]:
        """The settings variable that points the reference app at this server."""
        return {self.spec.env_var: self.url()}

    def client(self) -> Any:
        """A new client connected to the server, which the caller closes.

        A ``psycopg.Connection`` for PostgreSQL, a ``redis.Redis`` for Redis and a connected
        ``kombu.Connection`` for RabbitMQ.
        """
        return self.spec.client(self.url())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = redact(self._url) if self._url is not None else "not started"
        return f"<{type(self).__name__} {self.kind} {self.mode}: {state}>"
