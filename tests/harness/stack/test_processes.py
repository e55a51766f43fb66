"""Child processes know whether the harness stopped them: an exit it did not ask for is an
unexpected death, named with its log (what the run's watch reports)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.stack.processes import ManagedProcess
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
