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
    """A port free now. Another process may take it before the caller binds it: a child that
    imports for seconds before binding should get a :func:`listening_socket` instead."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound (to a port the kernel picks when ``port`` is 0) and listening, to be
    handed to a child process (``ManagedProcess(pass_socket=...)``, the child's ``--fd``): the
    port is held from the moment it is chosen, so nothing else can take it while the child
    starts. Its port: :func:`port_of`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restarted child's port
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def reserved_port(host: str = "127.0.0.1") -> socket.socket:
    """A socket that holds a port for children that bind it themselves with ``SO_REUSEPORT``
    (the gateway's processes, reference.common.serving): bound, never listening, so it takes no
    connection, and no other process can take the port while it is open."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


class ManagedProcess:
    """One child process (a service, a worker, a fake) with its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        *,
        pass_socket: socket.socket | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        # A listening socket the child serves on (``--fd N`` is added to its argv): inherited
        # by the child, and closed here once it is started, so that when the child is gone its
        # port refuses connections instead of queueing them. ``served_port`` stays: a
        # ``restarted()`` copy serves the same port on a socket of its own.
        self.pass_socket = pass_socket
        self.served_port = None if pass_socket is None else port_of(pass_socket)
        self.proc: subprocess.Popen[Any] | None = None
        # Set when the harness stops or kills it (or a fault declares it will exit): its exit is
        # then no failure of the run.
        self.stopped_on_purpose = False

    @classmethod
    def python_module(
        cls,
        name: str,
        module: str,
        args: list[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        pass_socket: socket.socket | None = None,
    ) -> ManagedProcess:
        argv = [sys.executable, "-m", module, *args]
        return cls(name, argv, env, log_dir / f"{name}.log", pass_socket=pass_socket)

    def restarted(self) -> ManagedProcess:
        """A new process like this one (not started), on the same port if it had one."""
        sock = None if self.served_port is None else listening_socket(port=self.served_port)
        return ManagedProcess(self.name, self.argv, self.env, self.log_path, pass_socket=sock)

    def start(self, *, pipe_stdout: bool = False) -> ManagedProcess:
        """Start it; with ``pipe_stdout`` its output (stdout and stderr) is a text pipe for the
        caller to read (``proc.stdout``) and copy to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fds = () if self.pass_socket is None else (self.pass_socket.fileno(),)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.argv, *(f"--fd={fd}" for fd in fds)],
                env={**os.environ, **self.env},
                stdout=subprocess.PIPE if pipe_stdout else log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() reaches its children
                text=pipe_stdout,
                bufsize=1 if pipe_stdout else -1,
                pass_fds=fds,
            )
        if self.pass_socket is not None:
            self.pass_socket.close()
            self.pass_socket = None
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
