"""The scenario's ``[[faults]]`` played on the load's timeline against the local stack.

Each fault gets a thread that waits for its start, begins it, waits for its end and ends it
(a killed worker restarted, a stopped server started again, the mock and the proxies back to
normal). When each really began and ended is recorded as a :class:`FaultWindow`: the
measurements and the report's shading use those times, not the planned ones. A server or
worker that does not come back is a :class:`FaultError` (a harness failure, with its log).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from harness.providers.base import ProviderError
from harness.scenario.faults import RESTARTS, Fault
from harness.stack.local import StackError, worker_key

if TYPE_CHECKING:
    from harness.stack.local import LocalStack
    from harness.stack.servers import RunServers


class FaultError(RuntimeError):
    """A fault could not be applied or undone (a server that did not come back)."""


@dataclass
class FaultWindow:
    """One fault as it happened (epoch seconds); ``error`` is why it did not end cleanly."""

    index: int
    kind: str
    label: str
    planned_start: float
    planned_end: float
    started: float | None = None
    ended: float | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Action(Protocol):
    def begin(self) -> None: ...

    def end(self) -> None: ...


@dataclass
class _WorkerKill:
    stack: LocalStack
    name: str
    replica: int

    def begin(self) -> None:
        self.stack.kill_process(worker_key(self.name, self.replica))

    def end(self) -> None:
        try:
            self.stack.start_worker(self.name, self.replica)
        except StackError as exc:
            raise FaultError(
                f"worker {self.name} replica {self.replica} did not come back: {exc.line()}"
                + (f"\n{exc.detail}" if exc.detail else "")
            ) from None


@dataclass
class _Restart:
    servers: RunServers
    server: str

    def begin(self) -> None:
        self.servers.restartable(self.server).halt()  # type: ignore[arg-type]

    def end(self) -> None:
        try:
            self.servers.restartable(self.server).resume()  # type: ignore[arg-type]
        except ProviderError as exc:
            raise FaultError(f"{self.server} did not come back after its restart: {exc}") from None


@dataclass
class _MockOpenAI:
    """The mock's admin API: one behaviour for the window, the scenario's config after it."""

    admin: str
    change: dict[str, Any]
    saved: dict[str, Any] | None = None

    def begin(self) -> None:
        self.saved = httpx.get(f"{self.admin}/_mock/config", timeout=5).json()
        rates = ("error_rate", "rate_limit_rate", "invalid_json_rate", "timeout_rate")
        config = {**self.saved, **dict.fromkeys(rates, 0.0), **self.change}
        httpx.put(f"{self.admin}/_mock/config", json=config, timeout=5).raise_for_status()

    def end(self) -> None:
        if self.saved is not None:
            httpx.put(f"{self.admin}/_mock/config", json=self.saved, timeout=5).raise_for_status()


@dataclass
class _Connection:
    stack: LocalStack
    server: str
    delay: float | None

    def begin(self) -> None:
        proxy = self.stack.proxies[self.server]
        if self.delay is None:
            proxy.reset()
        else:
            proxy.latency(self.delay)

    def end(self) -> None:
        self.stack.proxies[self.server].clear()


def action_for(fault: Fault, stack: LocalStack, servers: RunServers | None) -> Action:
    """What carries ``fault`` out on this stack; a :class:`FaultError` when it cannot."""
    if fault.kind == "worker-kill":
        assert fault.target is not None
        return _WorkerKill(stack, fault.target, fault.replica)
    if fault.kind in RESTARTS:
        if servers is None:
            raise FaultError(f"{fault.kind} needs servers the run owns; this run's are given")
        try:
            servers.restartable(RESTARTS[fault.kind])
        except Exception as exc:
            raise FaultError(str(exc)) from None
        return _Restart(servers, RESTARTS[fault.kind])
    admin = stack.openai_url.removesuffix("/v1")
    if fault.kind == "model-outage":
        change = {"error_rate": 1.0} if fault.behaviour == "error" else {"timeout_rate": 1.0}
        return _MockOpenAI(admin, change)
    if fault.kind == "rate-limit-storm":
        return _MockOpenAI(
            admin, {"rate_limit_rate": 1.0, "retry_after_seconds": fault.retry_after}
        )
    assert fault.target is not None
    if fault.target not in stack.proxies:
        raise FaultError(f"{fault.kind} on {fault.target} needs the stack to proxy that server")
    return _Connection(stack, fault.target, fault.delay)


class FaultTimeline:
    """Plays the faults (real times: ``at`` and ``duration`` times ``time_scale``)."""

    def __init__(
        self,
        faults: tuple[Fault, ...],
        *,
        stack: LocalStack,
        servers: RunServers | None,
        time_scale: float,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.faults = faults
        self.time_scale = time_scale
        self.progress = progress
        self.actions = [action_for(fault, stack, servers) for fault in faults]
        self.windows: list[FaultWindow] = []
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, load_start: float) -> FaultTimeline:
        for index, (fault, action) in enumerate(zip(self.faults, self.actions, strict=True)):
            window = FaultWindow(
                index=index,
                kind=fault.kind,
                label=fault.label,
                planned_start=load_start + fault.at * self.time_scale,
                planned_end=load_start + fault.end * self.time_scale,
            )
            self.windows.append(window)
            thread = threading.Thread(
                target=self._play, args=(window, action), name=f"fault-{index}", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        return self

    def _play(self, window: FaultWindow, action: Action) -> None:
        if self.stop_event.wait(max(0.0, window.planned_start - time.time())):
            return
        try:
            self.progress(f"fault {window.label}: begins")
            # The fault starts when acting on it starts (a server's shutdown is part of it) and
            # ends when it is undone (a restarted server answers again).
            window.started = time.time()
            action.begin()
            self.stop_event.wait(max(0.0, window.planned_end - time.time()))
            action.end()
            window.ended = time.time()
            self.progress(f"fault {window.label}: ended")
        except Exception as exc:
            window.error = f"{type(exc).__name__}: {exc}"
            self.progress(f"fault {window.label}: {window.error}")

    def stop(self, timeout: float = 120.0) -> None:
        """End the faults still active (the load ended early) and wait for each to be undone."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)

    def errors(self) -> list[str]:
        """Faults that did not end cleanly (a server or worker that did not come back)."""
        problems = [f"fault {w.label}: {w.error}" for w in self.windows if w.error]
        problems += [
            f"fault {w.label}: still active after the run"
            for w, t in zip(self.windows, self.threads, strict=True)
            if t.is_alive()
        ]
        return problems
