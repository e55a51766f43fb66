"""The whole storage tier (PostgreSQL, Redis, RabbitMQ) brought up and down as one."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from types import TracebackType
from typing import Self

from harness.providers.base import Kind, Provider, ProviderError
from harness.providers.kinds import KINDS
from harness.providers.select import SelectMode, choose


class StorageTier:
    """The three storage servers, chosen with one ``mode`` and started together.

    Servers start in parallel (RabbitMQ alone takes seconds) and stop in reverse order. If one
    fails to start, those that did start are stopped before the error is raised. ``providers``
    replaces the choice for some kinds, e.g. a fixed-port ephemeral PostgreSQL.
    """

    def __init__(
        self,
        mode: SelectMode = "auto",
        *,
        providers: Mapping[Kind, Provider] | None = None,
        parallel: bool = True,
    ) -> None:
        self.mode = mode
        self.parallel = parallel
        self._given = dict(providers or {})
        self.providers: dict[Kind, Provider] = {}

    def start(self) -> Self:
        """Choose and start every server; on any failure stop the others and raise."""
        if self.providers:
            return self
        workers = len(KINDS) if self.parallel else 1
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storage") as pool:
            futures = {kind: pool.submit(self._bring_up, kind) for kind in KINDS}
        failures: list[tuple[Kind, BaseException]] = []
        for kind, future in futures.items():
            error = future.exception()
            if error is None:
                self.providers[kind] = future.result()
            else:
                failures.append((kind, error))
        if failures:
            self.stop()
            kind, error = failures[0]
            if isinstance(error, ProviderError) and len(failures) == 1:
                raise error
            summary = "; ".join(f"{k}: {_message(e)}" for k, e in failures)
            raise ProviderError(f"the storage tier did not start ({summary})") from error
        return self

    def stop(self) -> None:
        """Stop every started server, last started first; report all failures together."""
        problems: list[str] = []
        for kind in reversed(KINDS):
            provider = self.providers.pop(kind, None)
            if provider is None:
                continue
            try:
                provider.stop()
            except Exception as exc:
                problems.append(f"{kind}: {_message(exc)}")
        if problems:
            raise ProviderError("stopping the storage tier failed: " + "; ".join(problems))

    def env(self) -> dict[str, str]:
        """``WASTECOACH_DATABASE_URL``, ``WASTECOACH_REDIS_URL`` and ``WASTECOACH_BROKER_URL``."""
        if len(self.providers) != len(KINDS):
            raise ProviderError("the storage tier is not started; call start() first")
        env: dict[str, str] = {}
        for kind in KINDS:
            env.update(self.providers[kind].env())
        return env

    def startup_seconds(self) -> dict[Kind, float | None]:
        """How long each server took to start."""
        return {kind: provider.startup_seconds for kind, provider in self.providers.items()}

    def _bring_up(self, kind: Kind) -> Provider:
        provider = self._given.get(kind) or choose(kind, self.mode)
        return provider.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop()
            return
        # Do not let a failing stop hide the error that ended the block.
        with suppress(ProviderError):
            self.stop()


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
