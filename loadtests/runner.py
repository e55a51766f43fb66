"""Run a scenario's load against a base URL with N Locust processes and merge what they measured.

``python -m loadtests --scenario NAME_OR_PATH --base-url URL --out DIR [--processes N]
[--time-scale X] [--upload-rewrite FROM=TO ...]``

Each process (:mod:`loadtests.process`) runs ``1/N`` of the users or of the arrival rate; all
start the load at the same wall-clock instant. In the open model an arrival is one action of
the mix (a scan, a map visit or a profile visit, by the mix's weights), started at its intended
time by whichever user of the process's pool is free; think time applies to the closed model.

While they run, one JSON progress line per ``--heartbeat`` seconds goes to stdout (for a
parent such as the harness CLI) and a short human line to stderr. At the end the per-process
files (``DIR/locust/``) are merged into ``DIR/events.csv``, ``DIR/requests.csv``,
``DIR/histograms.json`` and ``DIR/load.json``. The photos are salted with the run id unless
``--photo-salt`` says otherwise, so a run on a long-lived stack starts from a cold cache.

``--upload-rewrite FROM=TO`` (repeatable, each side ``host[:port]``) sends the uploads to
pre-signed URLs naming FROM to TO instead, keeping their ``Host`` header: for a cluster whose
S3 address only resolves inside it, e.g. a kind cluster's moto
(``s3.fakes.svc.cluster.local:5000=127.0.0.1:30500``, its NodePort).

Exit codes: 0 the load ran (judging it is the gates' job); 2 the load could not run: the
scenario is invalid, the base URL does not answer, or a Locust process failed.

No locust import in this process: the Locust processes are children.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from harness.client import parse_upload_rewrites
from harness.scenario import Scenario, ScenarioError, find_scenario, load_scenario
from loadtests.merge import merge_run

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = "locust"
# Seconds from launching the processes to the load's t=0: importing locust and spawning an
# open model's pool must fit in it, or a process starts late (its summary says by how much).
STARTUP_GRACE = 3.0


class RunFailed(RuntimeError):
    """The load could not run; the message is one line a user can act on."""


@dataclass
class Child:
    """One Locust process and what it last reported."""

    index: int
    proc: subprocess.Popen[str]
    log_path: Path
    last: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None
    reader: threading.Thread | None = None

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "done":
                self.final = message
            self.last = message

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def check_base_url(base_url: str, timeout: float = 5.0) -> None:
    """Fail with one line when nothing healthy answers at ``base_url``."""
    url = f"{base_url.rstrip('/')}/healthz"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RunFailed(
            f"the base URL {base_url} does not answer ({type(exc).__name__}: {exc}); start the "
            "stack (wastecoach up) or pass the URL it printed with --base-url"
        ) from None
    if answer.status_code != 200:
        raise RunFailed(
            f"the base URL {base_url} answers {url} with HTTP {answer.status_code}, not 200: "
            "is it the wastecoach gateway, and healthy?"
        )


def resolve_scenario(name_or_path: str) -> tuple[Scenario, Path]:
    try:
        path = find_scenario(name_or_path).resolve()
        return load_scenario(path), path
    except ScenarioError as exc:
        raise RunFailed(str(exc).replace("\n", "; ")) from None


@dataclass
class LoadRun:
    """One load run: its processes, their progress, the merge."""

    scenario_path: Path
    scenario: Scenario
    base_url: str
    out: Path
    processes: int
    time_scale: float | None = None
    flow_timeout: float = 120.0
    drain_timeout: float = 60.0
    heartbeat: float = 2.0
    arrivals: str = "constant"
    run_id: str = ""
    photo_salt: str = ""
    upload_rewrites: dict[str, str] = field(default_factory=dict)
    start_at: float | None = None  # epoch of the load's t=0 (default: a few seconds from now)
    children: list[Child] = field(default_factory=list)

    @property
    def duration(self) -> float:
        scale = self.time_scale if self.time_scale is not None else self.scenario.load.time_scale
        return self.scenario.load.nominal_duration * scale

    def _argv(self, index: int, start_at: float) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "loadtests.process",
            "--scenario",
            str(self.scenario_path),
            "--base-url",
            self.base_url,
            "--out",
            str(self.out / PARTS),
            "--process",
            str(index),
            "--processes",
            str(self.processes),
            "--start-at",
            f"{start_at:.6f}",
            "--run-id",
            self.run_id,
            "--flow-timeout",
            str(self.flow_timeout),
            "--drain-timeout",
            str(self.drain_timeout),
            "--heartbeat",
            str(self.heartbeat),
            "--arrivals",
            self.arrivals,
            "--photo-salt",
            self.photo_salt,
        ]
        if self.time_scale is not None:
            argv += ["--time-scale", str(self.time_scale)]
        for source, target in self.upload_rewrites.items():
            argv += ["--upload-rewrite", f"{source}={target}"]
        return argv

    def start(self) -> None:
        parts = self.out / PARTS
        parts.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(_pythonpath())}
        start_at = self.start_at or time.time() + STARTUP_GRACE + 0.25 * self.processes
        for index in range(self.processes):
            log_path = parts / f"locust-{index}.log"
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    self._argv(index, start_at),
                    stdout=subprocess.PIPE,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    env=env,
                    cwd=REPO_ROOT,
                )
            child = Child(index, proc, log_path)
            assert proc.stdout is not None
            child.reader = threading.Thread(target=child.read, args=(proc.stdout,), daemon=True)
            child.reader.start()
            self.children.append(child)

    def wait(self, progress: IO[str], human: IO[str]) -> None:
        """Report progress until every process exits (or the run overruns and is stopped)."""
        limit = time.monotonic() + STARTUP_GRACE + self.duration + self.drain_timeout + 60
        started = time.monotonic()
        while any(c.proc.poll() is None for c in self.children):
            if time.monotonic() > limit:
                self.stop()
                self.merge()
                raise RunFailed(
                    f"the Locust processes were still running {time.monotonic() - started:.0f}s"
                    f" after start (expected about {self.duration:.0f}s); stopped them, logs in "
                    f"{self.out / PARTS}"
                )
            self._report(progress, human)
            _wait_any(self.children, self.heartbeat)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=5)
        failed = [c for c in self.children if c.proc.returncode != 0]
        if failed:
            first = failed[0]
            raise RunFailed(
                f"Locust process {first.index} exited with code {first.proc.returncode}; "
                f"its log ({first.log_path}) ends: {first.log_tail(5)!r}"
            )

    def _report(self, progress: IO[str], human: IO[str]) -> None:
        beats = [c.last for c in self.children if c.last]
        if not beats:
            return
        total = _sum(beats)
        total.update(type="progress", processes=len(self.children))
        total["cpu_percent"] = round(sum(float(b.get("cpu_percent", 0.0)) for b in beats), 1)
        total["elapsed"] = max(b.get("elapsed", 0.0) for b in beats)
        print(json.dumps(total), file=progress, flush=True)
        print(
            f"loadtests {total['elapsed']:6.1f}s/{self.duration:.0f}s  users {total['users']}"
            f"  flows {total['flows_started']} started, {total['flows_finished']} ended, "
            f"{total['in_flight']} in flight, {total['errors']} errors  behind {total['behind']}"
            f"  requests {total['requests']} ({total['request_errors']} failed)"
            f"  locust cpu {total['cpu_percent']:.0f}%"
            + (f"  USER CODE ERRORS {total['user_errors']}" if total["user_errors"] else ""),
            file=human,
            flush=True,
        )

    def stop(self) -> None:
        """SIGTERM each process (it cuts its flows and writes its files), SIGKILL if stuck."""
        for child in self.children:
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in self.children:
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=10)

    def merge(self) -> dict[str, Any]:
        extra = {
            "scenario": self.scenario.name,
            "scenario_path": str(self.scenario_path),
            "run_id": self.run_id,
            "base_url": self.base_url,
            "processes_requested": self.processes,
            "time_scale": self.time_scale or self.scenario.load.time_scale,
            "flow_timeout": self.flow_timeout,
            "drain_timeout": self.drain_timeout,
            "photo_salt": self.photo_salt,
            "upload_rewrites": self.upload_rewrites,
        }
        return merge_run(self.out / PARTS, self.out, extra)


def _pythonpath() -> list[str]:
    current = os.environ.get("PYTHONPATH")
    return [str(REPO_ROOT), *([current] if current else [])]


def _wait_any(children: Sequence[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for child in children:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            child.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            return


_SUMMED = (
    "users",
    "flows_started",
    "flows_finished",
    "in_flight",
    "accepted",
    "done",
    "failed",
    "errors",
    "requests",
    "request_errors",
    "behind",
    "user_errors",
)


def _sum(beats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {key: sum(int(b.get(key, 0)) for b in beats) for key in _SUMMED}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="Run a scenario's load (Locust processes acting like the mobile app) "
        "against a running stack and merge the measurements.",
    )
    parser.add_argument("--scenario", required=True, help="a name in scenarios/ or a .toml path")
    parser.add_argument("--base-url", required=True, help="the gateway, e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", required=True, type=Path, help="folder for the run's files")
    parser.add_argument("--processes", type=int, help="Locust processes (default: the scenario's)")
    parser.add_argument("--time-scale", type=float, help="override the scenario's time scale")
    parser.add_argument(
        "--flow-timeout", type=float, default=120.0, help="seconds a scan may take (120)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds flows in flight may take to finish after the load ends (60)",
    )
    parser.add_argument("--heartbeat", type=float, default=2.0, help="progress every S seconds")
    parser.add_argument(
        "--arrivals",
        choices=("constant", "poisson"),
        default="constant",
        help="open model: evenly paced or Poisson arrivals (constant)",
    )
    parser.add_argument("--run-id", help="names the users' accounts (default: from the time)")
    parser.add_argument(
        "--photo-salt",
        help="makes this run's photos differ from other runs' (default: the run id, so the "
        "result cache starts cold); pass '' to photograph exactly the scenario's photos",
    )
    parser.add_argument(
        "--upload-rewrite",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="send uploads to pre-signed URLs naming host[:port] FROM to host[:port] TO, "
        "keeping the Host header (repeatable; e.g. a kind cluster's in-cluster S3 to its "
        "NodePort on 127.0.0.1)",
    )
    parser.add_argument(
        "--start-at",
        type=float,
        help="epoch second of the load's t=0, agreed with a caller that times other work on "
        "the same timeline (default: a few seconds from now)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.processes is not None and args.processes < 1:
            raise RunFailed("--processes must be at least 1")
        if args.time_scale is not None and args.time_scale <= 0:
            raise RunFailed("--time-scale must be > 0")
        try:
            upload_rewrites = parse_upload_rewrites(args.upload_rewrite)
        except ValueError as exc:
            raise RunFailed(f"--upload-rewrite {exc}") from None
        if args.start_at is not None and args.start_at < time.time() + 1.0:
            raise RunFailed("--start-at must be at least a second in the future")
        scenario, path = resolve_scenario(args.scenario)
        check_base_url(args.base_url)
        run_id = args.run_id or datetime.now(UTC).strftime("lt%Y%m%dT%H%M%S%f")
        run = LoadRun(
            scenario_path=path,
            scenario=scenario,
            base_url=args.base_url.rstrip("/"),
            out=args.out,
            processes=args.processes or scenario.load.locust_processes,
            time_scale=args.time_scale,
            flow_timeout=args.flow_timeout,
            drain_timeout=args.drain_timeout,
            heartbeat=args.heartbeat,
            arrivals=args.arrivals,
            run_id=run_id,
            photo_salt=run_id if args.photo_salt is None else args.photo_salt,
            upload_rewrites=upload_rewrites,
            start_at=args.start_at,
        )
        # A parent stopping us (SIGTERM) stops the Locust processes too.
        signal.signal(signal.SIGTERM, _interrupt)
        run.start()
        try:
            run.wait(sys.stdout, sys.stderr)
        except KeyboardInterrupt:
            run.stop()
            run.merge()  # what was measured until then is still worth keeping
            raise RunFailed(
                f"interrupted; the processes were stopped, partial files in {run.out}"
            ) from None
        load = run.merge()
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
