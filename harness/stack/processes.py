"""Child processes of a local stack: started with their own log file, stopped for sure."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """One child process (a service, a worker, a fake) with its output in ``log_path``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[Any] | None = None
        # Set when the harness stops or kills it (or a fault declares it will exit): its exit is
        # then no failure of the run.
        self.stopped_on_purpose = False

    @classmethod
    def python_module(
        cls, name: str, module: str, args: list[str], env: dict[str, str], log_dir: Path
    ) -> ManagedProcess:
        return cls(name, [sys.executable, "-m", module, *args], env, log_dir / f"{name}.log")

    def start(self, *, pipe_stdout: bool = False) -> ManagedProcess:
        """Start it; with ``pipe_stdout`` its output (stdout and stderr) is a text pipe for the
        caller to read (``proc.stdout``) and copy to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                stdout=subprocess.PIPE if pipe_stdout else log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() reaches its children
                text=pipe_stdout,
                bufsize=1 if pipe_stdout else -1,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def death(self) -> str | None:
        """Why waiting on this process is pointless (it exited), naming its log; else None."""
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited with code {self.proc.returncode} (its log: {self.log_path})"
        return None

    def expect_exit(self) -> None:
        """Declare that this process will exit on purpose (a fault crashing it from outside)."""
        self.stopped_on_purpose = True

    def unexpected_death(self) -> str | None:
        """``death()`` unless the process was stopped on purpose."""
        return None if self.stopped_on_purpose else self.death()

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, as tests simulate one)."""
        self.stopped_on_purpose = True
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM the process group without waiting (``stop`` waits)."""
        self.stopped_on_purpose = True
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        self.stopped_on_purpose = True
        if not self.alive():
            return
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
