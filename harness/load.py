"""Driving a run's load: the Locust master in one child process (``python -m loadtests``), the
local Locust workers beside it, both children of the harness.

Importing locust gevent-patches a process, and the harness's own process hosts threads and
in-process servers (the samplers, the batch flood, the fault timeline's TCP proxies), so the
master is a child the harness talks to over its stdout: the scenario the harness wrote and
parsed, the target it already probed (``--target-checked``), the master's address for the
local workers. The master prints ``{"type": "start", "load_start": EPOCH}`` when every expected
worker is ready and the load starts: the flood, the fault timeline and the live watch start on
that instant, so no start-up allowance is guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.processes import ManagedProcess, free_port
from harness.watch import LoadWatch
from loadtests.launch import start_local_workers, stop_all, worker_env

Progress = Callable[[str], None]
OnStart = Callable[[float], None]
MASTER_LOG = "locust.log"


@dataclass(frozen=True)
class LoadSettings:
    """How the load is generated (the command line's ``--processes`` and its neighbours)."""

    processes: int  # local workers
    master_bind: str | None = None  # HOST:PORT for workers elsewhere; default a free local port
    expect_workers: int | None = None  # default: the local ones
    expect_workers_timeout: float = 120.0
    ui: bool = False

    def check(self) -> None:
        expected = self.processes if self.expect_workers is None else self.expect_workers
        if expected < 1:
            raise HarnessError("no Locust worker: --processes N or --expect-workers M (remote)")
        if expected < self.processes:
            raise HarnessError(
                f"--expect-workers {expected} is fewer than the {self.processes} local workers"
            )


def master_argv(
    settings: LoadSettings,
    *,
    scenario_path: Path,
    base_url: str,
    out: Path,
    bind: str,
    drain: float,
    upload_rewrites: tuple[str, ...],
) -> list[str]:
    expected = settings.processes if settings.expect_workers is None else settings.expect_workers
    argv = [
        "--scenario", str(scenario_path), "--base-url", base_url, "--out", str(out),
        "--target-checked", "--processes", "0", "--master-bind", bind,
        "--expect-workers", str(expected),
        "--expect-workers-timeout", f"{settings.expect_workers_timeout:g}",
        "--drain-timeout", f"{drain:g}",
    ]  # fmt: skip
    if settings.ui:
        argv.append("--ui")
    for rewrite in upload_rewrites:
        argv += ["--upload-rewrite", rewrite]
    return argv


def run_load(
    settings: LoadSettings,
    *,
    scenario_path: Path,
    base_url: str,
    run_dir: Path,
    drain: float,
    upload_rewrites: tuple[str, ...],
    watch: LoadWatch,
    on_start: OnStart,
    progress: Progress,
) -> None:
    """Run the load to its end, or until ``watch`` stops it (SIGTERM to the master: its workers
    cut their flows and every row is still written). A master that fails is a harness failure
    with its one line (too few workers, a worker of another version or one that went away)."""
    logs = run_dir / "logs"
    bind = settings.master_bind or f"127.0.0.1:{free_port()}"
    argv = master_argv(
        settings,
        scenario_path=scenario_path,
        base_url=base_url,
        out=run_dir,
        bind=bind,
        drain=drain,
        upload_rewrites=upload_rewrites,
    )
    master = ManagedProcess.python_module("locust", "loadtests", argv, worker_env(), logs)
    master.start(pipe_stdout=True)
    workers: list[ManagedProcess] = []
    started = False
    try:
        workers = start_local_workers(settings.processes, bind, logs)
        assert master.proc is not None and master.proc.stdout is not None
        with master.log_path.open("a") as log:
            for line in master.proc.stdout:
                log.write(line)
                log.flush()
                progress(line.rstrip())
                if not started and line.startswith('{"type": "start"'):
                    started = True
                    load_start = float(json.loads(line)["load_start"])
                    on_start(load_start)
                    watch.start(load_start=load_start, stop_load=master.terminate)
        code = master.proc.wait()
    finally:
        watch.stop()
        master.stop(grace=30)
        stop_all(workers)
        if master.proc is not None and master.proc.stdout is not None:
            master.proc.stdout.close()
    if watch.check_deaths() is not None:
        raise HarnessError(f"a stack process died during the load: {watch.death}", logs=logs)
    if code != 0 and not (watch.abort is not None and (run_dir / "load.json").exists()):
        lines = master.log_path.read_text(errors="replace").splitlines()
        said = next((x for x in reversed(lines) if x.startswith("error:")), "")
        raise HarnessError(
            f"the load generator exited with code {code}"
            + (f" ({said.removeprefix('error: ')})" if said else "")
            + f"; its log: {master.log_path}",
            detail="\n".join(lines[-30:]),
        )
