"""Run a scenario's load on Locust's master/worker runner.

``python -m loadtests --scenario NAME_OR_PATH --base-url URL --out DIR [--processes N]
[--master-bind HOST:PORT] [--expect-workers M] [--ui] [--upload-rewrite FROM=TO ...]``, or
``python -m loadtests --plan FILE --out DIR`` as the harness runs it: FILE is the
:class:`~loadtests.protocol.MasterPlan` it wrote (the scenario it parsed, the target it probed,
the run's settings), and the harness starts the local workers beside it. Either way the master
runs one :class:`~loadtests.protocol.LoadPlan` and sends it whole to every worker.

This process is Locust's :class:`~locust.runners.MasterRunner`; it starts ``--processes``
local workers (:mod:`loadtests.worker`) and waits until ``--expect-workers`` workers (default:
the local ones; more run elsewhere with ``wastecoach load-worker --master HOST:PORT``) are
connected, at most ``--expect-workers-timeout`` seconds. It sends each its plan (the scenario,
parsed once, and its index), waits for every worker's users to be ready, then starts the
load at once: t=0 is that instant, no allowance is guessed. Each worker's rows come back in
Locust custom messages and land in ``DIR/events.csv``, ``DIR/requests.csv`` and
``DIR/checks.csv``; ``DIR/load.json`` holds each worker's summary and the totals.

While the load runs, one JSON progress line per ``--heartbeat`` seconds goes to stdout (for a
parent such as the harness), after one ``{"type": "start", "load_start": EPOCH}`` line; a short
human line goes to stderr. SIGTERM ends the load at once: the flows in flight are cut and still
written, and the exit code is 2. ``--ui`` serves Locust's web UI on 127.0.0.1:8089.

In the open model an arrival is one action of the mix, started at its intended time by
whichever user of the worker's pool is free; think time applies to the closed model. The photos
are salted with the run id unless ``--photo-salt`` says otherwise, so a run on a long-lived
stack starts from a cold cache. ``--upload-rewrite FROM=TO`` (repeatable, each side
``host[:port]``) sends uploads to pre-signed URLs naming FROM to TO instead, keeping their
``Host`` header (a kind cluster's moto: ``s3.fakes.svc.cluster.local:5000=127.0.0.1:30500``).

Exit codes: 0 the load ran (judging it is the gates' job); 2 it could not, in one line: the
scenario is invalid, the base URL does not answer, fewer workers than expected connected, a
worker runs other sources than the master, a worker disconnected mid-run, or the load was
stopped.

Imports locust (gevent-patches the process): only ``python -m loadtests`` runs it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import gevent
import gevent.event
import locust  # gevent-patches the process before the imports below
import locust.runners
from locust.env import Environment
from locust.log import setup_logging
from locust.rpc import Message

from harness.app.client import parse_upload_rewrites
from harness.app.target import TargetError, check_target
from harness.scenario import Scenario, ScenarioError, find_scenario, load_scenario
from harness.stack.processes import ManagedProcess, free_port
from loadtests import protocol
from loadtests.files import RunFiles
from loadtests.launch import start_local_workers, stop_all
from loadtests.plan import ProcessPlan
from loadtests.protocol import LoadPlan, LoadSettings, MasterPlan, WorkerPlan, parse_address
from loadtests.shape import StagesShape
from loadtests.user import unbound_user_class

# Heartbeats a worker may miss before it counts as lost (Locust's default, 3, is 3 s). A worker
# whose event loop a saturated machine starves misses a few: peak on 2 cores lost a live worker
# to 3 s of silence 12 s into the load (run peak-20261201T174433Z). 15 s of silence is a worker
# that is gone, and its share of the load is missing either way.
locust.runners.HEARTBEAT_LIVENESS = round(15 / locust.runners.HEARTBEAT_INTERVAL)

LOAD = "load.json"
UI_BIND = ("127.0.0.1", 8089)


class RunFailed(RuntimeError):
    """The load could not run (or not to its end); the message is one line a user can act on."""


class LoadMaster:
    """One load run on Locust's master runner, as its :class:`MasterPlan` says."""

    def __init__(
        self,
        plan: MasterPlan,
        out: Path,
        *,
        progress_out: IO[str] = sys.stdout,
        human: IO[str] = sys.stderr,
    ) -> None:
        self.plan, self.load, self.out = plan, plan.load, out
        self.progress_out, self.human = progress_out, human
        self.scenario = Scenario.model_validate(self.load.scenario)
        self.bind = parse_address(plan.bind)
        totals = ProcessPlan.of(self.scenario, 0, 1, time_scale=self.load.time_scale)
        self.duration = totals.duration
        self.shape = StagesShape(totals, time.perf_counter())
        self.env = Environment(
            user_classes=[unbound_user_class()], shape_class=self.shape, host=self.load.base_url
        )
        self.env.stop_timeout = None
        self.runner = self.env.create_master_runner(*self.bind)
        self.fingerprint = protocol.fingerprint()
        self.workers: dict[str, int] = {}  # Locust client id -> our worker index
        self.ready: dict[int, str] = {}  # index -> its fingerprint
        self.progress: dict[int, dict[str, Any]] = {}
        self.summaries: dict[int, dict[str, Any]] = {}
        self.files = RunFiles(self.out)
        self.stopped = False
        self.changed = gevent.event.Event()
        # index -> (monotonic time, photos rendered) of its last sign while it prepares.
        self.preparing: dict[int, tuple[float, int]] = {}
        for kind, handler in (
            (protocol.PREPARING, self._on_preparing),
            (protocol.READY, self._on_ready),
            (protocol.ROWS, self._on_rows),
            (protocol.DONE, self._on_done),
        ):
            self.runner.register_message(kind, handler)
        if plan.ui:
            self.env.create_web_ui(*UI_BIND)

    @property
    def address(self) -> str:
        return f"{self.bind[0]}:{self.bind[1]}"

    # -- messages from the workers ---------------------------------------------------------------
    def _on_preparing(self, environment: Any, msg: Message, **_: Any) -> None:
        index, done, of = int(msg.data["index"]), int(msg.data["photos"]), int(msg.data["of"])
        if done > self.preparing.get(index, (0.0, -1))[1]:  # progress, not a repeated count
            self.preparing[index] = (time.monotonic(), done)
        print(f"loadtests worker {index}: {done} of {of} photos rendered ahead", file=self.human)

    def _on_ready(self, environment: Any, msg: Message, **_: Any) -> None:
        self.ready[int(msg.data["index"])] = str(msg.data["fingerprint"])
        self.changed.set()

    def _on_rows(self, environment: Any, msg: Message, **_: Any) -> None:
        data = msg.data
        self.files.add({kind: data.get(kind) or [] for kind in ("events", "requests", "checks")})
        self.progress[int(data["index"])] = data["progress"]

    def _on_done(self, environment: Any, msg: Message, **_: Any) -> None:
        self.summaries[int(msg.data["index"])] = msg.data["summary"]
        self.changed.set()

    # -- the run ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """End the load at once (SIGTERM): the workers cut their flows and ship every row."""
        self.stopped = True
        self.runner.send_message(protocol.STOP)
        self.changed.set()

    def run(self) -> dict[str, Any]:
        try:
            self._wait_for_workers()
            self._send_plans()
            load_start = self._start()
            self._wait_for_the_end(load_start)
        finally:
            self.runner.quit()
            self.files.close()
        return self._write_load()

    def _wait_for_workers(self) -> None:
        expected, timeout = self.plan.expect_workers, self.plan.expect_timeout
        deadline = time.monotonic() + timeout
        while len(self.runner.clients.ready) < expected:
            if time.monotonic() > deadline:
                raise RunFailed(
                    f"only {len(self.runner.clients.ready)} of {expected} Locust "
                    f"workers connected to the master at {self.address} within "
                    f"{timeout:g} s; start the others with wastecoach load-worker "
                    f"--master {self.address}, or expect fewer (--expect-workers)"
                )
            gevent.sleep(0.1)

    def _send_plans(self) -> None:
        clients = sorted(c.id for c in self.runner.clients.ready)
        for index, client_id in enumerate(clients):
            self.workers[client_id] = index
            plan = WorkerPlan(index, len(clients), self.fingerprint, self.load)
            self.runner.send_message(protocol.PLAN, plan.to_message(), client_id=client_id)
        sent = time.monotonic()
        while len(self.ready) < len(clients):
            self._check_workers()
            # A worker rendering its photos ahead has as long from its last progress.
            stuck = [
                index
                for index in range(len(clients))
                if index not in self.ready
                and time.monotonic() - self.preparing.get(index, (sent, 0))[0]
                > self.plan.expect_timeout
            ]
            if stuck:
                raise RunFailed(
                    f"{len(clients) - len(self.ready)} of {len(clients)} Locust workers did not "
                    f"get ready within {self.plan.expect_timeout:g} s of their plan or of their "
                    "last progress; see their logs"
                )
            self.changed.clear()
            self.changed.wait(0.5)
        for index, print_ in sorted(self.ready.items()):
            if print_ != self.fingerprint:
                raise RunFailed(
                    f"Locust worker {index} runs other sources than the master (fingerprint "
                    f"{print_}, the master's {self.fingerprint}): install the same commit of "
                    "wastecoach on every load machine"
                )

    def _start(self) -> float:
        """Start the load: the open model's pool first (its users sign in before t=0)."""
        if self.shape.plan.model == "open":
            self.runner.start_shape()
            deadline = time.monotonic() + self.plan.expect_timeout
            while not self.runner.spawning_completed:
                self._check_workers()
                if time.monotonic() > deadline:
                    raise RunFailed("the workers did not spawn the open model's pool in time")
                gevent.sleep(0.1)
        load_start = time.time()
        self.runner.send_message(protocol.START, {"load_start": load_start})
        self._say({"type": "start", "load_start": load_start, "workers": len(self.workers)})
        if self.shape.plan.model == "closed":
            self.shape.load_start = time.perf_counter()
            self.runner.start_shape()
        return load_start

    def _wait_for_the_end(self, load_start: float) -> None:
        limit = time.monotonic() + self.duration + self.load.drain_timeout + 60
        heartbeat = self.load.heartbeat
        next_beat = time.monotonic() + heartbeat
        while len(self.summaries) < len(self.workers):
            self._check_workers()
            if time.monotonic() > limit:
                raise RunFailed(
                    f"the Locust workers were still running {time.time() - load_start:.0f} s "
                    f"after the start (expected about {self.duration:.0f} s); stopped them"
                )
            if time.monotonic() >= next_beat:
                next_beat += heartbeat
                self._report()
            self.changed.clear()
            self.changed.wait(min(0.5, max(0.0, next_beat - time.monotonic())))
        self._report()

    def _check_workers(self) -> None:
        """A worker that quit or stopped answering before its end: the load is partial."""
        for client_id, index in self.workers.items():
            if index in self.summaries:
                continue
            client = self.runner.clients.get(client_id)
            if client is None or client.state == "missing":
                how = "quit" if client is None else "stopped answering (no heartbeat)"
                raise RunFailed(
                    f"Locust worker {index} ({client_id}) {how} in the middle of the run: its "
                    "share of the load is missing, so the run has no verdict; see its log"
                )

    def _report(self) -> None:
        beats = list(self.progress.values())
        if not beats:
            return
        total = protocol.total_progress(beats)
        total.update(type="progress", processes=len(self.workers))
        self._say(total)
        print(
            f"loadtests {total['elapsed']:6.1f}s/{self.duration:.0f}s  users {total['users']}"
            f"  flows {total['flows_started']} started, {total['flows_finished']} ended, "
            f"{total['in_flight']} in flight, {total['errors']} errors  behind {total['behind']}"
            f"  requests {total['requests']} ({total['request_errors']} failed)"
            f"  locust cpu {total['cpu_percent']:.0f}%"
            + (f"  USER CODE ERRORS {total['user_errors']}" if total["user_errors"] else ""),
            file=self.human,
            flush=True,
        )

    def _say(self, message: dict[str, Any]) -> None:
        print(json.dumps(message), file=self.progress_out, flush=True)

    def _write_load(self) -> dict[str, Any]:
        processes = [self.summaries[i] for i in sorted(self.summaries)]
        plan = {k: v for k, v in asdict(self.load).items() if k != "scenario"}
        load = {
            "processes": processes,
            "totals": protocol.total_summaries(processes),
            **plan,
            "scenario": self.scenario.name,
            "time_scale": self.load.time_scale or self.scenario.load.time_scale,
            "master": self.address,
            "workers": len(self.workers),
            "fingerprint": self.fingerprint,
            "files": dict(self.files.counts),
        }
        (self.out / LOAD).write_text(json.dumps(load, indent=1))
        return load


def resolve_scenario(name_or_path: str) -> tuple[Scenario, Path]:
    try:
        path = find_scenario(name_or_path).resolve()
        return load_scenario(path), path
    except ScenarioError as exc:
        raise RunFailed(str(exc).replace("\n", "; ")) from None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="Run a scenario's load (Locust workers acting like the mobile app) "
        "against a running stack, on Locust's master/worker runner.",
    )
    add = parser.add_argument
    add("--scenario", help="a name in scenarios/ or a .toml path")
    add("--base-url", help="the gateway, e.g. http://127.0.0.1:8000")
    add("--out", required=True, type=Path, help="folder for the run's files")
    add(
        "--plan",
        type=Path,
        help="the harness's plan (MasterPlan JSON) instead of the options below: it parsed the "
        "scenario and probed the target, and starts the local workers itself",
    )
    add("--processes", type=int, help="local Locust workers to start (default: the scenario's)")
    add("--master-bind", metavar="HOST:PORT", help="where workers connect (127.0.0.1:free port)")
    add("--expect-workers", type=int, help="workers to wait for (default: --processes)")
    add("--expect-workers-timeout", type=float, default=120.0, help="seconds to wait (120)")
    add("--ui", action="store_true", help="Locust's web UI on 127.0.0.1:8089")
    add("--time-scale", type=float, help="override the scenario's time scale")
    add("--flow-timeout", type=float, help="seconds a scan may take (the scenario's, or 120)")
    add(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds flows in flight may take to finish after the load ends (60)",
    )
    add("--heartbeat", type=float, default=2.0, help="progress every S seconds")
    add(
        "--arrivals",
        choices=("constant", "poisson"),
        default="constant",
        help="open model: evenly paced or Poisson arrivals (constant)",
    )
    add("--run-id", help="names the users' accounts (default: from the time)")
    add(
        "--photo-salt",
        help="makes this run's photos differ from other runs' (default: the run id, so the "
        "result cache starts cold); pass '' to photograph exactly the scenario's photos",
    )
    add(
        "--upload-rewrite",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="send uploads to pre-signed URLs naming host[:port] FROM to host[:port] TO, "
        "keeping the Host header (repeatable)",
    )
    add("--log-level", default="WARNING", help="Locust's own log level (WARNING)")
    return parser


def _master(args: argparse.Namespace) -> tuple[LoadMaster, int]:
    """The master the arguments describe, and how many local workers to start."""
    if args.plan is not None:
        return LoadMaster(MasterPlan.read(args.plan), args.out), 0
    if args.scenario is None or args.base_url is None:
        raise RunFailed("pass --scenario and --base-url (or the harness's --plan FILE)")
    if args.time_scale is not None and args.time_scale <= 0:
        raise RunFailed("--time-scale must be > 0")
    try:
        upload_rewrites = parse_upload_rewrites(args.upload_rewrite)
    except ValueError as exc:
        raise RunFailed(f"--upload-rewrite {exc}") from None
    scenario, path = resolve_scenario(args.scenario)
    settings = LoadSettings(
        processes=scenario.load.locust_processes if args.processes is None else args.processes,
        master_bind=args.master_bind,
        expect_workers=args.expect_workers,
        expect_workers_timeout=args.expect_workers_timeout,
        ui=args.ui,
    )
    try:
        settings.check()
        check_target(args.base_url)
    except (ValueError, TargetError) as exc:
        raise RunFailed(str(exc)) from None
    load = LoadPlan.of(
        scenario,
        path,
        args.base_url,
        run_id=args.run_id,
        photo_salt=args.photo_salt,
        flow_timeout=args.flow_timeout,
        drain_timeout=args.drain_timeout,
        heartbeat=args.heartbeat,
        arrivals=args.arrivals,
        time_scale=args.time_scale,
        upload_rewrites=upload_rewrites,
    )
    bind = settings.master_bind or f"127.0.0.1:{free_port()}"
    return LoadMaster(settings.master(load, bind), args.out), settings.processes


def main(argv: Sequence[str] | None = None) -> int:
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]  (see loadtests.worker)
    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    workers: list[ManagedProcess] = []
    try:
        master, local = _master(args)
        gevent.signal_handler(signal.SIGTERM, master.stop)
        workers = start_local_workers(local, master.address, args.out / "locust")
        load = master.run()
        if master.stopped:  # on request (SIGTERM: the harness aborting early), not a failure
            print(f"loadtests: stopped, the flows in flight were cut; files in {args.out}")
            return 2
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_all(workers)
    totals = load["totals"]
    print(json.dumps({"type": "summary", **totals, "out": str(args.out)}), flush=True)
    print(
        f"loadtests: {totals.get('flows_finished', 0):.0f} scans "
        f"({totals.get('done', 0):.0f} done, {totals.get('failed', 0):.0f} failed, "
        f"{totals.get('errors', 0):.0f} errors), {totals.get('requests', 0):.0f} requests; "
        f"files in {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
