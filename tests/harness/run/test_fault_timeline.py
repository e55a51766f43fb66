"""The fault timeline with stand-ins for the stack and servers: faults begin and end on time,
their real windows are recorded, and a server or worker that does not come back is an error
(a harness failure for the run), never a quiet pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from harness.providers.base import ProviderError
from harness.run.fault_timeline import FaultError, FaultTimeline
from harness.scenario.faults import Fault
from harness.stack.local import StackError


@dataclass
class _Stack:
    calls: list[str] = field(default_factory=list)
    comes_back: bool = True
    openai_url: str = "http://127.0.0.1:1/v1"
    proxies: dict = field(default_factory=dict)

    def kill_process(self, key: str) -> None:
        self.calls.append(f"kill {key}")

    def start_worker(self, name: str, replica: int = 1) -> None:
        if not self.comes_back:
            raise StackError(f"worker {name} exited with code 1:\nTraceback ... (its log)")
        self.calls.append(f"start {name} {replica}")


@dataclass
class _Server:
    comes_back: bool

    def halt(self) -> None: ...

    def resume(self) -> None:
        if not self.comes_back:
            raise ProviderError("ephemeral RabbitMQ did not answer", details="--- log ---\nboom")


@dataclass
class _Servers:
    server: _Server

    def restartable(self, kind: str) -> _Server:
        return self.server


def _fault(kind: str, **fields: object) -> Fault:
    return Fault.model_validate({"kind": kind, "at": 0.2, "duration": 0.3, **fields})


def _play(faults: list[Fault], stack: _Stack, servers: _Servers | None = None) -> FaultTimeline:
    timeline = FaultTimeline(
        tuple(faults),
        stack=stack,
        servers=servers,
        time_scale=1.0,  # type: ignore[arg-type]
    )
    began = time.time()
    timeline.start(began)
    for thread in timeline.threads:
        thread.join(timeout=10)
    return timeline


def test_a_worker_kill_kills_then_restarts_on_time() -> None:
    stack = _Stack()
    timeline = _play([_fault("worker-kill", target="ai", replica=2)], stack)
    assert stack.calls == ["kill worker-ai-2", "start ai 2"]
    window = timeline.windows[0]
    assert window.started is not None and window.ended is not None
    assert window.ended - window.started == pytest.approx(0.3, abs=0.2)
    assert timeline.errors() == []


def test_a_worker_that_does_not_come_back_is_an_error_with_its_log() -> None:
    timeline = _play([_fault("worker-kill", target="ai")], _Stack(comes_back=False))
    (problem,) = timeline.errors()
    assert "did not come back" in problem and "its log" in problem
    assert timeline.windows[0].ended is None


def test_a_server_that_does_not_come_back_is_an_error_with_its_log() -> None:
    timeline = _play([_fault("broker-restart")], _Stack(), _Servers(_Server(comes_back=False)))
    (problem,) = timeline.errors()
    assert "rabbitmq did not come back" in problem and "boom" in problem


def test_a_restart_needs_servers_the_run_owns() -> None:
    with pytest.raises(FaultError, match="owns"):
        FaultTimeline((_fault("redis-restart"),), stack=_Stack(), servers=None, time_scale=1.0)  # type: ignore[arg-type]


def test_a_connection_fault_needs_a_proxied_server() -> None:
    with pytest.raises(FaultError, match="proxy"):
        FaultTimeline(
            (_fault("reset", target="redis"),),
            stack=_Stack(),
            servers=None,
            time_scale=1.0,  # type: ignore[arg-type]
        )
