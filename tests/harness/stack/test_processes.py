"""Child processes know whether the harness stopped them: an exit it did not ask for is an
unexpected death, named with its log (what the run's watch reports). A fake serves on a socket
the harness bound and handed down, so its port is never free for another process to take."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from harness.stack.processes import ManagedProcess, listening_socket, port_of
from harness.stack.waits import wait_for


def _process(tmp_path: Path, name: str, code: str) -> ManagedProcess:
    return ManagedProcess(name, [sys.executable, "-c", code], {}, tmp_path / f"{name}.log").start()


def test_an_exit_nobody_asked_for_is_an_unexpected_death(tmp_path: Path) -> None:
    process = _process(tmp_path, "crasher", "import sys; sys.exit(3)")
    wait_for(lambda: not process.alive(), timeout=30, describe="the process exiting")
    assert process.unexpected_death() == (
        f"crasher exited with code 3 (its log: {tmp_path / 'crasher.log'})"
    )


def test_processes_stopped_or_declared_are_not(tmp_path: Path) -> None:
    stopped = _process(tmp_path, "stopped", "import time; time.sleep(60)")
    stopped.stop()
    assert stopped.death() is not None and stopped.unexpected_death() is None
    declared = _process(tmp_path, "declared", "import sys; sys.exit(1)")
    declared.expect_exit()  # a fault that makes it crash says so first
    wait_for(lambda: not declared.alive(), timeout=30, describe="the process exiting")
    assert declared.unexpected_death() is None


# -- a port handed down: nothing can take it while the child starts --------------------------


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize(
    "module",
    ["harness.mocks.openai_server", "harness.mocks.kakao_server", "harness.mocks.s3_server"],
)
def test_a_fake_serves_on_the_socket_it_was_handed_and_its_port_survives_a_restart(
    tmp_path: Path, module: str
) -> None:
    sock = listening_socket()
    port = port_of(sock)
    # Held from the moment it was chosen: another process cannot bind it while the fake imports.
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind(("127.0.0.1", port))
    process = ManagedProcess.python_module("fake", module, [], {}, tmp_path, pass_socket=sock)
    process.start()
    assert sock.fileno() == -1  # the harness's copy is closed once the child has its own
    url = (
        f"http://127.0.0.1:{port}/"
        if module.endswith("s3_server")
        else f"http://127.0.0.1:{port}/healthz"
    )
    try:
        wait_for(lambda: _answers(url), timeout=60, describe=f"{module} on its socket")
        process.kill()
        # Nothing holds the port now: a dead fake refuses, as a stopped server would.
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
        process = process.restarted().start()
        wait_for(lambda: _answers(url), timeout=60, describe=f"{module} again on port {port}")
    finally:
        process.stop()
