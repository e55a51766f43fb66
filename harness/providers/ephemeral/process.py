"""The resources of one ephemeral server (process and temporary directory) and their cleanup.

They live apart from the provider object so that a ``weakref.finalize`` can hold them: if a
test run forgets ``stop()`` or the interpreter exits on an error, the server is still stopped
and its directory removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from harness.providers.base import ProviderError


@dataclass
class ServerRuntime:
    """A server process and the temporary directory it works in."""

    workdir: Path
    stop_signal: signal.Signals
    stop_timeout: float
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.workdir / "server.log"

    def cleanup(self) -> None:
        """Stop the process (politely, then by force) and delete the directory. Idempotent."""
        if self.process is not None:
            stop_process(self.process, self.stop_signal, self.stop_timeout)
            self.process = None
        if self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.workdir.exists():
                raise ProviderError(
                    f"could not remove {self.workdir}; remove it by hand (rm -rf) once nothing "
                    "uses it"
                )


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` and wait; kill the whole process group if it does not exit in ``timeout``.

    Servers are started in their own session, so the group also holds their helpers (Erlang's
    ``erl_child_setup``, PostgreSQL backends); a final SIGKILL to the group sweeps any that
    outlived the leader. A shared ``epmd`` is not in the group: Erlang daemonizes it.
    """
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
    _kill_group(process.pid)


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
