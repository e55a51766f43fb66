"""The servers a run uses (PostgreSQL, Redis, RabbitMQ), chosen per server and owned or not.

``--servers auto`` (or ``WASTECOACH_SERVERS``) takes the configured servers when they answer,
else ephemeral servers from the installed binaries, else containers when a Docker engine
answers. Servers the run must own (a fault restarts them or puts a proxy in front of them) skip
``running`` under ``auto``; under ``running`` such a fault is refused before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import TracebackType
from typing import Self, get_args

import httpx

from harness.errors import HarnessError
from harness.providers import ProviderError, StorageTier
from harness.providers.base import Kind, Mode, Provider
from harness.providers.container import ContainerProvider
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ephemeral.rabbitmq import EphemeralRabbitMQ
from harness.providers.running import RunningProvider
from harness.providers.select import MODES, SelectMode, choose, make
from harness.stack.sandbox import ServerUrls, management_api

ENV_VAR = "WASTECOACH_SERVERS"
#: How to get servers, in the words of the one-line error when none works.
THREE_WAYS = (
    "start PostgreSQL, Redis and RabbitMQ (or set WASTECOACH_DATABASE_URL, "
    "WASTECOACH_REDIS_URL, WASTECOACH_BROKER_URL), install their binaries "
    "(postgresql, redis-server, rabbitmq-server) for ephemeral servers, or start a Docker engine "
    "for containers"
)


class ServersError(HarnessError):
    """The run cannot get the servers it needs; one line saying what to do."""


def mode_from(value: str | None) -> SelectMode:
    """``--servers`` or ``WASTECOACH_SERVERS`` checked; unset means ``auto``."""
    chosen = value or os.environ.get(ENV_VAR) or "auto"
    if chosen not in MODES:
        raise ServersError(f"--servers {chosen!r}: choose one of {', '.join(MODES)}")
    return chosen  # type: ignore[return-value]


def _configured_management() -> str:
    """``WASTECOACH_BROKER_MANAGEMENT_URL`` for a running broker (empty: its host, port 15672)."""
    return os.environ.get("WASTECOACH_BROKER_MANAGEMENT_URL", "")


def _management_problem(provider: RunningProvider) -> str | None:
    """Why a running RabbitMQ's management API cannot serve the run (vhosts, queue
    statistics), or ``None`` when it answers."""
    api = management_api(provider.target, _configured_management())
    try:
        answer = httpx.get(f"{api}/overview", auth=("guest", "guest"), timeout=3)
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
    else:
        if answer.status_code == 200:
            return None
        reason = f"HTTP {answer.status_code}"
    return (
        f"RabbitMQ's management API at {api} does not answer ({reason}); enable it "
        "(rabbitmq-plugins enable rabbitmq_management), point WASTECOACH_BROKER_MANAGEMENT_URL "
        "at it, or use --servers ephemeral"
    )


def _owned(kind: Kind, found: list[str], *, why: str) -> Provider:
    """An ephemeral (else container) server of ``kind``: one the run starts itself."""
    for candidate in ("ephemeral", "container"):
        provider = make(kind, candidate)
        try:
            provider.check_available()
        except ProviderError as exc:
            found.append(f"{candidate}: {exc.message}")
            continue
        return provider
    raise ProviderError(f"{why}; tried " + " | ".join(found))


class RunServers:
    """The three servers of one run: which way each is provided and whether the run owns it."""

    def __init__(self, mode: SelectMode = "auto", *, owned: Iterable[Kind] = ()) -> None:
        self.mode = mode
        self.must_own = frozenset(owned)
        if mode == "running" and self.must_own:
            raise ServersError(
                f"--servers running: the scenario's faults restart or proxy "
                f"{', '.join(sorted(self.must_own))}, which the run must own; "
                "use --servers auto, ephemeral or container"
            )
        self._tier: StorageTier | None = None

    def _provider(self, kind: Kind) -> Provider:
        if self.mode == "auto" and kind in self.must_own:
            return _owned(kind, [], why=f"the run must own {kind}")
        provider = choose(kind, self.mode)
        if kind == "rabbitmq" and isinstance(provider, RunningProvider):
            problem = _management_problem(provider)
            if problem and self.mode == "auto":
                return _owned(kind, [f"running: {problem}"], why=f"no way to provide {kind}")
            if problem:
                raise ProviderError(problem)
        return provider

    def start(self) -> Self:
        """Choose and start every server; raises :class:`ServersError` (one line) on failure."""
        kinds: tuple[Kind, ...] = get_args(Kind)
        try:
            given = {kind: self._provider(kind) for kind in kinds}
        except ProviderError as exc:
            if self.mode == "auto":
                raise ServersError(
                    f"no servers for the run ({exc.message}); {THREE_WAYS}"
                ) from None
            raise ServersError(f"--servers {self.mode}: {exc.message}") from None
        try:
            self._tier = StorageTier(self.mode, providers=given).start()
        except ProviderError as exc:
            # Chosen, but it did not come up: the server's own log says why.
            raise ServersError(f"the run's servers did not start: {exc}") from None
        return self

    def stop(self) -> None:
        tier, self._tier = self._tier, None
        if tier is not None:
            tier.stop()

    def provider(self, kind: Kind) -> Provider:
        if self._tier is None:
            raise ServersError("the run's servers are not started")
        return self._tier.providers[kind]

    def modes(self) -> dict[str, Mode]:
        """Which way each server was provided: ``{"postgres": "ephemeral", ...}``."""
        kinds: tuple[Kind, ...] = get_args(Kind)
        return {kind: self.provider(kind).mode for kind in kinds}

    def owns(self, kind: Kind) -> bool:
        """Whether the run started this server itself (it may restart it)."""
        return self.provider(kind).mode != "running"

    def restartable(self, kind: Kind) -> EphemeralServer:
        """The server as one the run can halt and resume, or a one-line :class:`ServersError`."""
        provider = self.provider(kind)
        if not isinstance(provider, EphemeralServer):
            raise ServersError(
                f"a restart of {kind} needs a server the run owns as an ephemeral server; "
                f"this run's {kind} is {provider.mode}"
            )
        return provider

    def urls(self) -> ServerUrls:
        """The admin-capable URLs the run's sandbox is made on."""
        broker = self.provider("rabbitmq")
        management = _configured_management()
        if isinstance(broker, EphemeralRabbitMQ | ContainerProvider):
            management = broker.management_url()
        return ServerUrls(
            database_url=self.provider("postgres").url(),
            redis_url=self.provider("redis").url(),
            broker_url=broker.url(),
            management_url=management,
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
