"""Choosing how to provide a server: the one the user names, or the first that works here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from harness.providers.base import Kind, Mode, Provider, ProviderError
from harness.providers.container import ContainerProvider
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ephemeral.postgres import EphemeralPostgres
from harness.providers.ephemeral.rabbitmq import EphemeralRabbitMQ
from harness.providers.ephemeral.redis import EphemeralRedis
from harness.providers.kinds import spec_for
from harness.providers.running import RunningProvider

SelectMode = Literal["auto", "running", "ephemeral", "container"]
MODES: tuple[SelectMode, ...] = get_args(SelectMode)
#: The order ``auto`` tries: cheapest and most faithful to the developer's setup first.
AUTO_ORDER: tuple[Mode, ...] = ("running", "ephemeral", "container")

_EPHEMERAL: dict[Kind, Callable[[], EphemeralServer]] = {
    "postgres": EphemeralPostgres,
    "redis": EphemeralRedis,
    "rabbitmq": EphemeralRabbitMQ,
}


def make(kind: Kind, mode: Mode) -> Provider:
    """A provider of ``kind`` in ``mode``, constructed but neither checked nor started."""
    spec_for(kind)
    if mode == "running":
        return RunningProvider(kind)
    if mode == "ephemeral":
        return _EPHEMERAL[kind]()
    if mode == "container":
        return ContainerProvider(kind)
    raise ProviderError(f"unknown provider mode {mode!r}; use one of {', '.join(MODES)}")


def choose(kind: Kind, mode: SelectMode = "auto") -> Provider:
    """A provider of ``kind`` that can work here, not yet started.

    An explicit ``mode`` is checked and its problem raised as it is. ``auto`` takes the server
    already running if it answers, else an ephemeral one if the binaries are installed and
    recent enough, else a container if a Docker engine answers; if none works, the error says
    what each attempt found.
    """
    spec = spec_for(kind)
    if mode != "auto":
        provider = make(kind, mode)
        provider.check_available()
        return provider
    found: list[str] = []
    for candidate in AUTO_ORDER:
        provider = make(kind, candidate)
        try:
            provider.check_available()
        except ProviderError as exc:
            found.append(f"{candidate}: {exc.message}")
            continue
        return provider
    raise ProviderError(f"no way to provide {spec.title} here; tried " + " | ".join(found))
