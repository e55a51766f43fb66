"""Driving a run's load: the Locust master in one child process (``python -m loadtests``), the
local Locust workers beside it, both children of the harness.

Importing locust gevent-patches a process, and the harness's own process hosts threads and
in-process servers (the samplers, the batch flood, the fault timeline's TCP proxies), so the
master is a child the harness talks to over its stdout. It hands the master one
:class:`~loadtests.protocol.MasterPlan`, written to the run folder (``load-plan.json``): the
:class:`~loadtests.protocol.LoadPlan` (the scenario the harness parsed, the target it already
probed) that the master sends whole to every worker, and the master's address and the workers
it waits for. The master prints ``{"type": "start", "load_start": EPOCH}`` when every expected
worker is ready and the load starts: the flood, the fault timeline and the live watch start on
that instant, so no start-up allowance is guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.run.watch import LoadWatch
from harness.stack.processes import ManagedProcess, free_port
from loadtests.launch import start_local_workers, stop_all, worker_env
from loadtests.protocol import LoadPlan, LoadSettings

Progress = Callable[[str], None]
OnStart = Callable[[float], None]
MASTER_LOG = "locust.log"
PLAN = "load-plan.json"


def check_settings(settings: LoadSettings) -> None:
    """Refuse settings that cannot make a run, before anything starts (one line, exit 2)."""
    try:
        settings.check()
    except ValueError as exc:
        raise HarnessError(str(exc)) from None


def run_load(
    settings: LoadSettings,
    plan: LoadPlan,
    *,
    run_dir: Path,
    watch: LoadWatch,
    on_start: OnStart,
    progress: Progress,
) -> None:
    """Run ``plan`` to its end, or until ``watch`` stops it (SIGTERM to the master: its workers
    cut their flows and every row is still written). A master that fails is a harness failure
    with its one line (too few workers, a worker of another version or one that went away)."""
    logs = run_dir / "logs"
    bind = settings.master_bind or f"127.0.0.1:{free_port()}"
    plan_path = settings.master(plan, bind).write(run_dir / PLAN)
    argv = ["--plan", str(plan_path), "--out", str(run_dir)]
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
