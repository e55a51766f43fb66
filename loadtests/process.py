"""One Locust process of a load run (started by :mod:`loadtests.runner`, one per core).

``python -m loadtests.process --scenario PATH --base-url URL --out DIR --process I --processes N
[--time-scale X] [--start-at EPOCH] [--run-id ID] [--flow-timeout S] [--drain-timeout S]
[--upload-rewrite FROM=TO ...]``

Locust as a library: an :class:`Environment` with the app user and the stages shape, a local
runner. A conductor greenlet ends the load: at the end of the stages no new action starts,
flows in flight finish (at most ``--drain-timeout`` seconds; those still running then are
written as ``timeout`` with code ``drain_timeout`` and the stage they were stuck at), then the
runner quits. Every ``--heartbeat``
seconds one JSON line goes to stdout for the parent; Locust's own log goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event

# Importing locust gevent-patches the process (sockets, ssl, time.sleep); the third-party
# imports sort before ours, so harness/httpx below already get the patched modules.
import locust  # noqa: F401
import psutil
from locust.env import Environment
from locust.log import setup_logging

from harness.client import parse_upload_rewrites
from harness.scenario import ScenarioError, load_scenario
from loadtests.pacing import Clock, Pacer
from loadtests.plan import ProcessPlan
from loadtests.records import ProcessRecorder
from loadtests.shape import StagesShape
from loadtests.user import ProcessContext, user_class

log = logging.getLogger("loadtests.process")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests.process", description=__doc__)
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--process", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--time-scale", type=float)
    parser.add_argument("--start-at", type=float, help="epoch seconds at which the load starts")
    parser.add_argument("--run-id", default="run")
    parser.add_argument("--flow-timeout", type=float, default=120.0)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument("--arrivals", choices=("constant", "poisson"), default="constant")
    parser.add_argument("--photo-salt", default="")
    parser.add_argument("--upload-rewrite", action="append", default=[], metavar="FROM=TO")
    parser.add_argument("--log-level", default="INFO")
    return parser


class LoadProcess:
    """One process: builds the Locust environment, runs it, ends it cleanly."""

    def __init__(self, args: argparse.Namespace, upload_rewrites: dict[str, str]) -> None:
        self.args = args
        scenario = load_scenario(args.scenario)
        self.plan = ProcessPlan.of(
            scenario, args.process, args.processes, time_scale=args.time_scale
        )
        self.clock = Clock.now()
        now = time.perf_counter()
        start = self.clock.perf(args.start_at) if args.start_at else now
        self.late_start = max(0.0, now - start)
        self.start = max(start, now)
        self.recorder = ProcessRecorder(args.out, args.process)
        plan = self.plan
        schedule = (
            plan.arrivals(self.start, process=args.arrivals) if plan.model == "open" else None
        )
        self.schedule = schedule
        self.pacer = Pacer(
            plan.model,
            self.start,
            self.start + plan.duration,
            schedule=schedule,
            think=plan.think_time,
        )
        self.context = ProcessContext(
            plan=plan,
            base_url=args.base_url,
            run_id=args.run_id,
            recorder=self.recorder,
            clock=self.clock,
            pacer=self.pacer,
            photos=plan.photo_stream(args.photo_salt),
            flow_timeout=args.flow_timeout,
            upload_rewrites=upload_rewrites,
        )
        self.env = Environment(
            user_classes=[user_class(self.context)],
            shape_class=StagesShape(plan, self.start),
            host=args.base_url,
            stop_timeout=args.drain_timeout,
        )
        self.recorder.on_request = self._fire_locust_event
        self.runner = self.env.create_local_runner()
        self.user_errors = 0
        self.env.events.user_error.add_listener(self._user_error)
        self.cut_at_drain = 0
        self.aborted = False
        self._ending = gevent.event.Event()
        self.psutil = psutil.Process()
        self.psutil.cpu_percent()

    def _fire_locust_event(
        self, method: str, name: str, ms: float, status: int, error: str | None
    ) -> None:
        # Locust's own statistics (rounded) stay available, e.g. for its web UI.
        self.env.events.request.fire(
            request_type=method,
            name=name,
            response_time=ms,
            response_length=0,
            exception=RuntimeError(error) if error else None,
            context={"status": status},
        )

    def _user_error(self, user_instance: Any, exception: Exception, tb: Any) -> None:
        # A bug in the user code (the flows record HTTP failures themselves): counted and
        # shown in every heartbeat; Locust logs the traceback to stderr.
        self.user_errors += 1

    # -- running -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        heartbeat = gevent.spawn(self._heartbeats)
        if self.plan.model == "open":
            # The pool spawns (and signs in) before t=0; the schedule starts at t=0.
            self.runner.start_shape()
            gevent.sleep(max(0.0, self.start - time.perf_counter()))
        else:
            gevent.sleep(max(0.0, self.start - time.perf_counter()))
            self.runner.start_shape()
        conductor = gevent.spawn(self._conduct)
        conductor.join()
        self.runner.greenlet.join()
        heartbeat.kill()
        return self._finish()

    def stop_now(self) -> None:
        """SIGTERM: end the load at once, cut the flows in flight, still write every file."""
        self.aborted = True
        self._ending.set()

    def _conduct(self) -> None:
        self._ending.wait(timeout=max(0.0, self.pacer.end - time.perf_counter()))
        self.pacer.close()
        in_flight = self.context.in_flight
        deadline = time.perf_counter() + self.args.drain_timeout
        while len(in_flight) and time.perf_counter() < deadline and not self.aborted:
            gevent.sleep(0.05)
        for record in list(in_flight.scans.values()):
            if not record.status:
                # error_stage says where it was stuck (e.g. "status": the job never ended)
                code = "aborted" if self.aborted else "drain_timeout"
                record.fail("timeout", record.stage or "drain", code)
                log.warning(
                    "flow of job %s still at %s when the load ended (%s): written as timeout",
                    record.job_id or "(none yet)",
                    record.stage,
                    code,
                )
            scheduled = self.clock.perf(record.scheduled_at)
            record.end_to_end_ms = (time.perf_counter() - scheduled) * 1000
            if self.recorder.flow(record):
                self.cut_at_drain += 1
        # Whatever is left is cut at once (waiting users, or flows already written above).
        self.env.stop_timeout = None
        self.runner.quit()

    def _heartbeats(self) -> None:
        while True:
            gevent.sleep(self.args.heartbeat)
            self.recorder.flush()
            print(json.dumps(self.progress("heartbeat")), flush=True)

    def progress(self, kind: str) -> dict[str, Any]:
        counts = self.recorder.counts
        now = time.perf_counter()
        return {
            "type": kind,
            "process": self.args.process,
            "elapsed": round(now - self.start, 3),
            "users": self.runner.user_count,
            "flows_started": counts["flows_started"],
            "flows_finished": counts["flows_finished"],
            "in_flight": len(self.context.in_flight),
            "accepted": counts["accepted"],
            "done": counts["flows_done"],
            "failed": counts["flows_failed"],
            "errors": counts["flows_error"] + counts["flows_timeout"],
            "requests": counts["requests"],
            "request_errors": counts["request_errors"],
            "behind": self.pacer.behind(now),
            "user_errors": self.user_errors,
            "cpu_percent": self.psutil.cpu_percent(),
        }

    def _finish(self) -> dict[str, Any]:
        self.recorder.close()
        cpu = self.psutil.cpu_times()
        summary = self.progress("done")
        summary.update(
            {
                "model": self.plan.model,
                "load_start": round(self.clock.epoch(self.start), 6),
                "load_end": round(self.clock.epoch(self.pacer.end), 6),
                "late_start_s": round(self.late_start, 3),
                "cpu_seconds": round(cpu.user + cpu.system, 3),
                "max_rss_bytes": self.psutil.memory_info().rss,
                "cut_at_drain": self.cut_at_drain,
                "aborted": self.aborted,
                "photos": {
                    "draws": self.context.photos.draws,
                    "repeats": self.context.photos.repeats,
                    "identical_repeats": self.context.photos.identical_repeats,
                    "exact_repeats": self.context.photos.exact_repeats,
                    "expected_identical_ratio": self.context.photos.expected_identical_ratio(
                        self.context.photos.draws or None
                    ),
                },
            }
        )
        if self.schedule is not None:
            summary["arrivals_planned"] = int(self.schedule.expected_total)
            summary["arrivals_started"] = self.schedule.claimed
        (self.args.out / f"process-{self.args.process}.json").write_text(
            json.dumps(summary, indent=1)
        )
        print(json.dumps(summary), flush=True)
        return summary


def main(argv: list[str] | None = None) -> int:
    # httpcore imports trio when it is installed (lazily, with the first client), and trio
    # fails on gevent's patched `select` (no epoll); it cannot run under gevent anyway.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        rewrites = parse_upload_rewrites(args.upload_rewrite)
    except ValueError as exc:
        print(f"error: --upload-rewrite {exc}", file=sys.stderr)
        return 2
    try:
        process = LoadProcess(args, rewrites)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gevent.signal_handler(signal.SIGTERM, process.stop_now)
    process.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
