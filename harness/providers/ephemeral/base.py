"""Servers started from locally installed binaries in a temporary directory on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import weakref
from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

from harness.providers.base import Kind, Provider, ProviderError
from harness.providers.ephemeral.privileges import RunAs, hand_over
from harness.providers.ephemeral.process import ServerRuntime, stop_process
from harness.providers.kinds import spec_for
from harness.providers.ports import LOOPBACK, free_port, require_free_port
from harness.providers.readiness import process_alive, tail_file, wait_ready

# What servers print when another process took the port between our choice and their bind.
_PORT_TAKEN_MARKERS = ("address already in use", "eaddrinuse")


class EphemeralServer(Provider):
    """Base of the ephemeral providers: temp dir, free ports, process, readiness, cleanup.

    Subclasses say how to find and check the binaries (:meth:`_locate`), prepare the directory
    (:meth:`_prepare`), and what to run (:meth:`_command`, :meth:`_environment`). The server
    runs in its own session with its output in ``<workdir>/server.log``; ``stop()`` ends it and
    deletes the directory, and so does a failed ``start()``.
    """

    mode = "ephemeral"
    #: Seconds to wait for the first successful probe.
    default_startup_timeout: ClassVar[float] = 30.0
    #: Seconds between the polite stop signal and SIGKILL.
    stop_timeout: ClassVar[float] = 20.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    #: Ports besides the main one (RabbitMQ's Erlang distribution port).
    extra_ports: ClassVar[int] = 0
    #: Fresh-port attempts when another process wins the race for a port we picked.
    bind_attempts: ClassVar[int] = 3

    def __init__(
        self, kind: Kind, *, port: int | None = None, startup_timeout: float | None = None
    ) -> None:
        super().__init__(spec_for(kind))
        self.port = port
        self.startup_timeout = startup_timeout or self.default_startup_timeout
        self._runtime: ServerRuntime | None = None
        self._finalizer: weakref.finalize | None = None
        #: The ports in use once started: the main port first.
        self.ports: list[int] = []

    @property
    def workdir(self) -> Path | None:
        """The temporary directory while the server runs, else ``None``."""
        return self._runtime.workdir if self._runtime is not None else None

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group) while it runs, else ``None``."""
        if self._runtime is None or self._runtime.process is None:
            return None
        return self._runtime.process.pid

    def log_tail(self) -> str:
        """The last lines of the server's log (empty when not running)."""
        return tail_file(self._runtime.log_path) if self._runtime is not None else ""

    def check_available(self) -> None:
        self._locate()

    @abstractmethod
    def _locate(self) -> None:
        """Find the binaries and check their versions, raising :class:`ProviderError`."""

    @abstractmethod
    def _prepare(self, workdir: Path, ports: list[int]) -> None:
        """Fill the fresh ``workdir`` (initdb, config files) before the server starts."""

    @abstractmethod
    def _command(self, workdir: Path, ports: list[int]) -> list[str]:
        """The server's command line; it must stay in the foreground."""

    @abstractmethod
    def _url_for(self, ports: list[int]) -> str:
        """The app's URL for a server on ``ports``."""

    def _probe_url(self, ports: list[int]) -> str:
        """The URL readiness is probed at (the app's, unless it names things made later)."""
        return self._url_for(ports)

    def _inherited_environment(self) -> dict[str, str]:
        """The part of our environment the server inherits."""
        return dict(os.environ)

    def _environment(self, workdir: Path, ports: list[int]) -> dict[str, str]:
        """Variables set for the server on top of the inherited ones."""
        return {}

    def _run_as(self) -> RunAs | None:
        """The user the server runs as, or ``None`` for the current one."""
        return None

    def _after_ready(self, url: str) -> None:
        """Work once the server answers (e.g. create the app's database); ``url`` is the app's."""

    def _start(self) -> str:
        self._locate()
        what = f"ephemeral {self.spec.title}"
        if self.port is not None:
            require_free_port(self.port, what)
        attempts = 1 if self.port is not None else self.bind_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(what)
            except ProviderError:
                lost_race = any(m in self.log_tail().lower() for m in _PORT_TAKEN_MARKERS)
                self._stop()
                if not lost_race or attempt == attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _start_once(self, what: str) -> str:
        run_as = self._run_as()
        workdir = Path(tempfile.mkdtemp(prefix=f"wastecoach-{self.kind}-"))
        runtime = ServerRuntime(workdir, self.stop_signal, self.stop_timeout)
        self._runtime = runtime
        self._finalizer = weakref.finalize(self, runtime.cleanup)
        if run_as is not None:
            hand_over(workdir, run_as)
        ports = self._pick_ports()
        self._prepare(workdir, ports)
        self._launch(runtime, ports, what)
        self.ports = ports
        url = self._url_for(ports)
        self._after_ready(url)
        return url

    def _launch(self, runtime: ServerRuntime, ports: list[int], what: str) -> None:
        """Run the server in ``runtime``'s directory on ``ports`` and wait until it answers."""
        run_as = self._run_as()
        workdir = runtime.workdir
        # HOME in the workdir: whatever a server keeps there (Erlang's cookie) goes with it.
        env = {
            **self._inherited_environment(),
            "HOME": str(workdir),
            **self._environment(workdir, ports),
        }
        with runtime.log_path.open("ab") as log:
            runtime.process = subprocess.Popen(
                self._command(workdir, ports),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches us, not the server, so servers
                # stop in order; and the group lets stop() sweep helper processes.
                start_new_session=True,
                **(run_as.popen_kwargs() if run_as is not None else {}),
            )
        wait_ready(
            [process_alive(runtime.process, what), self.spec.probe(self._probe_url(ports), 2.0)],
            timeout=self.startup_timeout,
            what=f"{what} on {LOOPBACK}:{ports[0]}",
            logs=self.log_tail,
        )

    def halt(self) -> None:
        """Stop the server process but keep its directory and ports: the first half of a
        restart (a fault), the data survives as it would on a restarted host."""
        runtime = self._runtime
        if runtime is None or runtime.process is None:
            raise ProviderError(f"ephemeral {self.spec.title} is not running; nothing to halt")
        self._before_halt()
        stop_process(runtime.process, self.stop_signal, self.stop_timeout)
        runtime.process = None

    def _before_halt(self) -> None:
        """Work before a halt, so a restart keeps what a restarted server would keep."""

    def resume(self) -> None:
        """Start the halted server again on the same ports and data; a start-up timeout
        carries its log."""
        runtime = self._runtime
        if runtime is None or not self.ports:
            raise ProviderError(f"ephemeral {self.spec.title} was never started; cannot resume")
        if runtime.process is not None and runtime.process.poll() is None:
            return
        self._launch(runtime, self.ports, f"ephemeral {self.spec.title} (restarted)")

    def _pick_ports(self) -> list[int]:
        ports = [self.port if self.port is not None else free_port()]
        while len(ports) < 1 + self.extra_ports:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return ports

    def _stop(self) -> None:
        finalizer, self._finalizer = self._finalizer, None
        self._runtime = None
        self.ports = []
        if finalizer is not None:
            finalizer()
