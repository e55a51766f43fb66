"""A Locust worker of a load run: ``python -m loadtests.worker --master HOST:PORT`` (or
``wastecoach load-worker --master HOST:PORT`` on another machine).

Locust's :class:`~locust.runners.WorkerRunner` connects to the master (:mod:`loadtests.master`)
and spawns the users the master dispatches to it. What it runs comes in the master's
``wc:plan`` message (:mod:`loadtests.protocol`): the scenario, this worker's index and the
target; the worker needs no file of the run. Its users sign in, then wait for ``wc:start`` (the
load's t=0). Every heartbeat it ships the rows it recorded to the master (``wc:rows``). A
conductor greenlet ends the load: at the end of the stages no new action starts, flows in flight
finish (at most the drain timeout; those still running then are written as ``timeout`` with
code ``drain_timeout`` and the stage they were stuck at), the users stop (each checks its
history), and the last rows and the summary go to the master (``wc:done``). The master's
``quit`` ends the process.

Imports locust (gevent-patches the process): never import it from the harness or pytest.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

# Importing locust gevent-patches the process (sockets, ssl, time.sleep); the third-party
# imports sort before ours, so harness/httpx below already get the patched modules.
import locust  # noqa: F401
import psutil
from locust.env import Environment
from locust.log import setup_logging
from locust.rpc import Message
from locust.runners import WorkerRunner
from locust.stats import RequestStats

from harness.app.transport import GeventTransport
from harness.scenario import Scenario
from loadtests import protocol
from loadtests.pacing import Clock, Pacer
from loadtests.plan import ProcessPlan
from loadtests.protocol import WorkerPlan, parse_address
from loadtests.records import ProcessRecorder, RequestListener
from loadtests.user import ProcessContext, unbound_user_class, user_class

log = logging.getLogger("loadtests.worker")
# How often a worker rendering its photos ahead tells the master how far it got.
PREPARE_REPORT_SECONDS = 2.0


def locust_statistics(env: Environment) -> RequestListener:
    """A recorder's request listener that feeds Locust's own statistics (rounded; its web UI on
    the master shows them with --ui)."""

    def fire(method: str, name: str, ms: float, status: int, error: str | None) -> None:
        env.events.request.fire(
            request_type=method,
            name=name,
            response_time=ms,
            response_length=0,
            exception=RuntimeError(error) if error else None,
            context={"status": status},
        )

    return fire


class _WorkerRunner(WorkerRunner):
    """Locust's worker runner with this project's message handlers registered before it
    connects. The master sends a worker its plan as soon as it has the worker's
    ``client_ready``; registered after ``create_worker_runner()`` returned, the handler could
    come too late, and Locust drops an unknown message with a warning (the worker then waited
    for a plan it had been sent: seen at load 16)."""

    def __init__(
        self,
        environment: Environment,
        master_host: str,
        master_port: int,
        handlers: dict[str, Callable[..., None]],
    ) -> None:
        self._handlers = handlers
        super().__init__(environment, master_host, master_port)

    def connect_to_master(self) -> None:
        for kind, handler in self._handlers.items():
            if kind not in self.custom_messages:  # it retries by calling itself
                self.register_message(kind, handler)
        super().connect_to_master()


class LoadWorker:
    """One worker: waits for its plan, runs its share of the load, ships what it measured."""

    def __init__(self, master_host: str, master_port: int) -> None:
        self.env = Environment(user_classes=[unbound_user_class()])
        self.fingerprint = protocol.fingerprint()
        self.plan: WorkerPlan | None = None
        self.context: ProcessContext | None = None
        self.user_errors = 0
        self.cut_at_drain = 0
        self.aborted = False
        self.late_start = 0.0
        self.prepared: dict[str, float] = {}
        self.cpu_at_start = 0.0
        self._ending = gevent.event.Event()
        self.psutil = psutil.Process()
        self.psutil.cpu_percent()
        # Last: a plan may arrive while it connects, and its handler needs the state above.
        # As Environment.create_worker_runner does, with a RequestStats that keeps no
        # response-times cache (only the master's statistics need one).
        self.env.stats = RequestStats(use_response_times_cache=False)
        self.runner = self.env.runner = _WorkerRunner(
            self.env,
            master_host,
            master_port,
            {
                protocol.PLAN: self._on_plan,
                protocol.START: self._on_start,
                protocol.STOP: lambda **_: self.stop_now(),
            },
        )
        self.env.events.user_error.add_listener(self._user_error)

    # -- messages from the master --------------------------------------------------------------
    def _on_plan(self, environment: Any, msg: Message, **_: Any) -> None:
        plan = self.plan = WorkerPlan.from_message(msg.data)
        load = plan.load
        scenario = Scenario.model_validate(load.scenario)
        process_plan = ProcessPlan.of(
            scenario, plan.index, plan.processes, time_scale=load.time_scale
        )
        recorder = ProcessRecorder(plan.index, on_request=locust_statistics(self.env))
        self.context = ProcessContext(
            plan=process_plan,
            base_url=load.base_url,
            run_id=load.run_id,
            recorder=recorder,
            clock=Clock.now(),
            photos=process_plan.photo_stream(load.photo_salt),
            flow_timeout=load.flow_timeout,
            upload_rewrites=load.upload_rewrites,
            transport=GeventTransport,
        )
        # The master dispatches users by class name: the bound class replaces the placeholder.
        self.env.user_classes = [user_class(self.context)]
        self.env.host = load.base_url
        # Not in this handler: rendering takes a while, and Locust's messages must flow.
        gevent.spawn(self._prepare, scenario.load.photos_ahead)

    def _prepare(self, photos_ahead: bool) -> None:
        """Render the photos ahead when the scenario says so (telling the master how far it
        got every couple of seconds, so it waits as long as this makes progress), then say
        ready."""
        assert self.context is not None and self.plan is not None
        index, photos = self.plan.index, self.context.photos
        count = self.context.plan.photos_needed() if photos_ahead else 0
        started, cpu = time.perf_counter(), self._cpu()
        told = [started]

        def between(done: int) -> None:
            gevent.sleep(0)  # the heartbeats and messages go on
            if time.perf_counter() - told[0] >= PREPARE_REPORT_SECONDS:
                told[0] = time.perf_counter()
                self.runner.send_message(
                    protocol.PREPARING, {"index": index, "photos": done, "of": count}
                )

        photos.prepare(count, between=between)
        self.prepared = {
            "photos": count,
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(self._cpu() - cpu, 3),
        }
        self.runner.send_message(protocol.READY, {"index": index, "fingerprint": self.fingerprint})

    def _cpu(self) -> float:
        cpu = self.psutil.cpu_times()
        return cpu.user + cpu.system

    def _on_start(self, environment: Any, msg: Message, **_: Any) -> None:
        assert self.context is not None and self.plan is not None
        ctx, plan = self.context, self.context.plan
        now = time.perf_counter()
        self.cpu_at_start = self._cpu()
        self.psutil.cpu_percent()  # the first heartbeat's share counts from t=0
        start = ctx.clock.perf(float(msg.data["load_start"]))
        self.late_start = max(0.0, now - start)
        start = max(start, now)
        schedule = (
            plan.arrivals(start, process=self.plan.load.arrivals) if plan.model == "open" else None
        )
        self.schedule = schedule
        ctx.begin(
            Pacer(
                plan.model, start, start + plan.duration, schedule=schedule, think=plan.think_time
            )
        )
        gevent.spawn(self._conduct)
        gevent.spawn(self._heartbeats)

    def stop_now(self) -> None:
        """``wc:stop``: end the load at once, cut the flows in flight, still ship every row."""
        self.aborted = True
        self._ending.set()

    # -- the load ------------------------------------------------------------------------------
    def _user_error(self, user_instance: Any, exception: Exception, tb: Any) -> None:
        # A bug in the user code (the flows record HTTP failures themselves): counted and
        # shown in every heartbeat; Locust logs the traceback.
        self.user_errors += 1

    def _conduct(self) -> None:
        assert self.context is not None and self.plan is not None
        ctx = self.context
        pacer = ctx.pacer
        self._ending.wait(timeout=max(0.0, pacer.end - time.perf_counter()))
        pacer.close()
        in_flight = ctx.in_flight
        deadline = time.perf_counter() + self.plan.load.drain_timeout
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
            scheduled = ctx.clock.perf(record.scheduled_at)
            record.end_to_end_ms = (time.perf_counter() - scheduled) * 1000
            if ctx.recorder.flow(record):
                self.cut_at_drain += 1
        # Whatever is left is cut at once; each user checks its history as it stops.
        self.env.stop_timeout = None
        self.runner.stop()
        self._ship()
        self.runner.send_message(
            protocol.DONE, {"index": self.plan.index, "summary": self._summary()}
        )

    def _heartbeats(self) -> None:
        assert self.plan is not None
        while True:
            gevent.sleep(self.plan.load.heartbeat)
            self._ship()

    def _ship(self) -> None:
        assert self.context is not None and self.plan is not None
        rows = self.context.recorder.take()
        self.runner.send_message(
            protocol.ROWS, {"index": self.plan.index, **rows, "progress": self.progress()}
        )

    def progress(self) -> dict[str, Any]:
        assert self.context is not None and self.plan is not None
        ctx = self.context
        counts = ctx.recorder.counts
        now = time.perf_counter()
        return {
            "process": self.plan.index,
            "elapsed": round(now - ctx.pacer.start, 3),
            "users": self.runner.user_count,
            "flows_started": counts["flows_started"],
            "flows_finished": counts["flows_finished"],
            "in_flight": len(ctx.in_flight),
            "accepted": counts["accepted"],
            "done": counts["flows_done"],
            "failed": counts["flows_failed"],
            "errors": counts["flows_error"] + counts["flows_timeout"],
            "requests": counts["requests"],
            "request_errors": counts["request_errors"],
            "behind": ctx.pacer.behind(now),
            "user_errors": self.user_errors,
            "cpu_percent": self.psutil.cpu_percent(),
        }

    def _summary(self) -> dict[str, Any]:
        assert self.context is not None
        ctx = self.context
        cpu = self._cpu()
        summary = self.progress()
        photos = ctx.photos
        summary.update(
            {
                "model": ctx.plan.model,
                "load_start": round(ctx.clock.epoch(ctx.pacer.start), 6),
                "load_end": round(ctx.clock.epoch(ctx.pacer.end), 6),
                "late_start_s": round(self.late_start, 3),
                "cpu_seconds": round(cpu, 3),
                # From t=0 on: what the load itself cost (the photos rendered ahead are not in it).
                "cpu_seconds_in_load": round(cpu - self.cpu_at_start, 3),
                "max_rss_bytes": self.psutil.memory_info().rss,
                "cut_at_drain": self.cut_at_drain,
                "aborted": self.aborted,
                "fingerprint": self.fingerprint,
                "photos": {
                    "draws": photos.draws,
                    "repeats": photos.repeats,
                    "identical_repeats": photos.identical_repeats,
                    "exact_repeats": photos.exact_repeats,
                    "expected_identical_ratio": photos.expected_identical_ratio(
                        photos.draws or None
                    ),
                    "rendered_ahead": self.prepared,
                    "rendered_in_load": photos.draws - min(photos.draws, photos.prepared),
                },
            }
        )
        if self.schedule is not None:
            summary["arrivals_planned"] = int(self.schedule.expected_total)
            summary["arrivals_started"] = self.schedule.claimed
        return summary

    def run(self) -> None:
        self.runner.greenlet.join()


def main(argv: list[str] | None = None) -> int:
    # httpcore imports trio when it is installed (lazily, with the first client), and trio
    # fails on gevent's patched `select` (no epoll); it cannot run under gevent anyway.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    parser = argparse.ArgumentParser(prog="python -m loadtests.worker", description=__doc__)
    parser.add_argument("--master", required=True, help="the master's HOST:PORT")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        host, port = parse_address(args.master)
    except ValueError as exc:
        print(f"error: --master {exc}", file=sys.stderr)
        return 2
    setup_logging(args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
    try:
        worker = LoadWorker(host, port)
    except ConnectionError:
        print(f"error: no Locust master answers at {args.master}", file=sys.stderr)
        return 2
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
