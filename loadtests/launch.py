"""Local Locust workers as child processes (no locust import): the master started alone
(``python -m loadtests --processes N``) and the harness start them the same way, and stop them
the way every child process of a run is stopped
(:class:`harness.stack.processes.ManagedProcess`)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.stack.processes import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


def worker_env() -> dict[str, str]:
    """This checkout first on the path, so a worker runs the master's very sources."""
    current = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *([current] if current else [])])}


def start_local_workers(count: int, master: str, log_dir: Path) -> list[ManagedProcess]:
    """``count`` workers of the master at ``master`` (HOST:PORT), logs in ``log_dir``."""
    return [
        ManagedProcess.python_module(
            f"locust-worker-{index}",
            "loadtests.worker",
            ["--master", master],
            worker_env(),
            log_dir,
        ).start()
        for index in range(count)
    ]


def stop_all(processes: list[ManagedProcess]) -> None:
    for process in processes:
        process.stop()
