"""Running a scenario: bring the stack up (or use a target URL), apply the load, sample the
system, account for every accepted job, judge the gates and write the report.

Exit codes: 0 every gate passed, 1 a gate failed (or could not decide, or an ``abort_on_fail``
gate stopped the load early), 2 the harness itself failed (a server, stack or target that does
not answer or start, a stack process or the load generator dying, a failed cleanup).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness import faults, observations, recovery
from harness.collect.prometheus import PrometheusSampler
from harness.collect.rabbitmq import RabbitSampler
from harness.collect.redis_stats import RedisSampler
from harness.collect.resources import ResourceSampler, Watched
from harness.collect.sampler import Sampler
from harness.collect.series import Series, point
from harness.errors import CleanupError, HarnessError, as_harness_error
from harness.fault_timeline import FaultError, FaultTimeline
from harness.gates.evaluate import EXIT_HARNESS_ERROR, Evaluation, Verdict
from harness.gates.evaluate import exit_code as exit_code_of
from harness.measurements import Samples
from harness.providers.select import SelectMode
from harness.report.html import write_html
from harness.report.junit import write_junit
from harness.report.rundata import (
    CHECKS,
    EVENTS,
    REQUESTS,
    SERIES,
    SUMMARY,
    RunData,
    read_checks,
    read_events,
    read_requests,
    write_events,
)
from harness.sandbox import ServerUrls, check_management, check_servers
from harness.scenario import Scenario, load_scenario, toml_writer
from harness.scenario.faults import RESTARTS, proxied_servers
from harness.scenario.faults import owned_servers as owned_by_faults
from harness.servers import RunServers
from harness.settle import finish_times, settle_open_jobs
from harness.stack import SEED_LOCATION_POINTS, LocalStack, StackOptions
from harness.stats import percentile
from harness.watch import LoadWatch
from loadtests.runner import PARTS as LOAD_PARTS
from reference.common import topology
from reference.common.settings import Settings

Progress = Callable[[str], None]


def _tier(process: str) -> str:
    """The seed's tier of a local process (the gateway serves every service in one process)."""
    if process == "gateway":
        return "api"
    if process.startswith("worker-"):
        return topology.worker(process.split("-")[1]).tier
    return "fakes"


# Seconds from launching the load generator to its t=0 (its imports and Locust's start-up),
# plus half a second per Locust process. 6 s was too short on a busy machine (load average 19
# on two cores: `python -m loadtests --help` alone took 8 s, and the load generator refused
# --start-at), so the stack waits a little longer before the load on a quiet one.
LOAD_START_GRACE = 20.0


@dataclass
class RunOptions:
    scenario_path: Path
    target: str | None = None  # a deployed stack's base URL; None brings a local stack up
    reports_dir: Path = Path("reports")
    processes: int | None = None
    # How the local stack gets its servers (``--servers``; harness.servers), or the URLs of
    # servers already running to use as they are.
    servers: SelectMode | ServerUrls = "auto"
    # For tests that break the system on purpose: settings of the stack's services and workers,
    # and extra arguments per worker (e.g. {"ai": ("--queues=q.ai,q.batch",)}).
    stack_settings: dict[str, object] = field(default_factory=dict)
    worker_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Local workers to start, and faults to inject during the load (harness.faults).
    workers: tuple[str, ...] = ("ai", "api", "batch")
    # Processes per worker as the seed deploys them (topology.WORKERS); False: one each.
    seed_replicas: bool = True
    faults: tuple[str, ...] = ()
    # Pre-signed upload hosts the load generator cannot reach, as "FROM=TO" (kind: moto's
    # in-cluster address -> its NodePort on 127.0.0.1); only with a target.
    upload_rewrites: tuple[str, ...] = ()
    # Every closed-model stage's user count, for capacity searches (``--users``).
    users: int | None = None
    drain_seconds: float = 60.0
    inconclusive_ok: bool = False
    sample_interval: float = 1.0
    # A target run's server-side gauges (queues, Redis, CPU and memory by tier): the cluster's
    # Prometheus, queried at this step over the run's window.
    prometheus: str | None = None
    prometheus_step: float = 5.0
    # A target run's q.batch flood is published through this broker (from inside the cluster).
    flood_broker: str | None = None
    # On a loaded machine the load generator's imports alone can take longer than the default.
    load_start_grace: float = LOAD_START_GRACE


@dataclass
class RunResult:
    run_dir: Path
    evaluation: Evaluation
    summary: dict[str, Any]
    exit_code: int


def _effective_scenario(scenario: Scenario, options: RunOptions, run_dir: Path) -> Path:
    """Write the scenario this run applies into the run folder (with ``users`` applied) and
    return its path: the load generator reads it, and the run can be repeated from it."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    if options.users is not None:
        stages = [s for s in data["load"]["stages"] if "users" in s]
        if not stages:
            raise HarnessError(
                f"--users applies to closed-model stages; {scenario.name} has only arrival rates"
            )
        for stage in stages:
            stage["users"] = options.users
    path = run_dir / "scenario.toml"
    path.write_text(toml_writer.dumps(data))
    load_scenario(path)  # what was written reads back as a valid scenario
    return path


RATE_LIMITS = ("limit_scans_per_minute", "limit_model_calls_per_day", "limit_logins_per_minute")


def _stack_options(
    scenario: Scenario, options: RunOptions, run_dir: Path, servers: ServerUrls
) -> StackOptions:
    openai_config = run_dir / "openai-mock.json"
    openai_config.write_text(scenario.fakes.openai.model_dump_json(indent=2))
    settings: dict[str, object] = {}
    # A compressed scenario (time_scale 0.2: five times faster) has each user scan that much
    # faster in real time: the rate limits are scaled with it, so that they refuse what they
    # would refuse at the scenario's own pace, and honest users stay below them.
    for name in RATE_LIMITS:
        default = Settings.model_fields[name].default
        settings[name] = math.ceil(default / scenario.load.time_scale)
    batch = scenario.scaled().batch
    if batch is not None:  # the batch tasks' extra work is a worker setting
        settings["batch_extra_work_seconds"] = batch.work_seconds
    kakao_config = run_dir / "kakao-fake.json"
    kakao_config.write_text(scenario.fakes.kakao.model_dump_json(indent=2))
    return StackOptions(
        servers=servers,
        run_dir=run_dir,
        workers=options.workers,
        worker_replicas={w.name: w.replicas for w in topology.WORKERS}
        if options.seed_replicas
        else {},
        openai_args=("--config", str(openai_config), "--log-level", "warning"),
        kakao_args=("--config", str(kakao_config)),
        settings_overrides={**settings, **options.stack_settings},
        worker_args=dict(options.worker_args),
        location_points=SEED_LOCATION_POINTS,
        # Beat sends q.sched's schedule (jobs.reconcile every minute) as the cluster's does;
        # the batch worker consumes q.sched.
        beat="batch" in options.workers,
        proxied=tuple(sorted(proxied_servers(scenario.faults))),
    )


class BatchFlood:
    """Publishes the scenario's background q.batch tasks on its timeline (a thread)."""

    def __init__(self, scenario: Scenario, settings: Settings, series: Series) -> None:
        from reference.workers.app import create_celery

        self.plan = scenario.scaled().batch
        self.celery = create_celery(settings)
        self.series = series
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="batch-flood", daemon=True)
        self.published = 0
        self.load_start = time.time()

    def _publish(self) -> None:
        assert self.plan is not None
        self.celery.send_task(self.plan.task, priority=topology.BATCH.max_priority)
        self.published += 1
        self.series.add([point(time.time(), "batch_published", 1, task=self.plan.task)])

    def _run(self) -> None:
        assert self.plan is not None
        if self.stop_event.wait(max(0.0, self.load_start + self.plan.start - time.time())):
            return
        if self.plan.burst is not None:
            for _ in range(self.plan.burst):
                self._publish()
            return
        assert self.plan.rate is not None
        interval = 1.0 / self.plan.rate
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            self._publish()
            next_at += interval
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))

    def start(self, load_start: float) -> BatchFlood:
        """Publish on the load's timeline: ``plan.start`` seconds after ``load_start``."""
        self.load_start = load_start
        if self.plan is not None:
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)


def _check_target(base_url: str) -> None:
    try:
        answer = httpx.get(f"{base_url.rstrip('/')}/readyz", timeout=10)
    except httpx.HTTPError as exc:
        raise HarnessError(
            f"target {base_url} does not answer ({type(exc).__name__}: {exc})"
        ) from None
    if answer.status_code != 200:
        raise HarnessError(
            f"target {base_url} is not ready: HTTP {answer.status_code} {answer.text[:300]}"
        )


COLLECTOR_HINTS = {
    "rabbitmq": "is the RabbitMQ management plugin on? rabbitmq-plugins enable rabbitmq_management",
    "redis": "is Redis up at the configured WASTECOACH_REDIS_URL?",
    "metrics": "did a service or worker stop? see the logs folder of the run",
    "resources": "",
}


def _preflight(collectors: dict[str, Any]) -> None:
    """Sample every collector once before the load: a gate fed by a collector that cannot
    collect would only ever be inconclusive, so that is the harness's failure, said up front."""
    for name, collect in collectors.items():
        try:
            collect()
        except Exception as exc:
            hint = COLLECTOR_HINTS.get(name, "")
            raise HarnessError(
                f"collector {name} cannot sample ({type(exc).__name__}: {exc})"
                + (f"; {hint}" if hint else "")
            ) from None


def _run_load(
    options: RunOptions,
    scenario_path: Path,
    base_url: str,
    run_dir: Path,
    progress: Progress,
    start_at: float,
    *,
    watch: LoadWatch,
) -> None:
    """Run the load generator to its end, or until ``watch`` stops it (SIGTERM: it cuts its
    flows and still writes every file)."""
    argv = [
        sys.executable, "-m", "loadtests",
        "--scenario", str(scenario_path),
        "--base-url", base_url,
        "--out", str(run_dir),
    ]  # fmt: skip
    if options.processes:
        argv += ["--processes", str(options.processes)]
    argv += ["--drain-timeout", f"{options.drain_seconds:g}", "--start-at", f"{start_at:.6f}"]
    flow_timeout = load_scenario(scenario_path).scaled().flow_timeout
    if flow_timeout is not None:
        argv += ["--flow-timeout", f"{flow_timeout:g}"]
    for rewrite in options.upload_rewrites:
        argv += ["--upload-rewrite", rewrite]
    log = (run_dir / "logs").joinpath("locust.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("w") as log_file,
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc,
    ):
        assert proc.stdout is not None
        watch.start(load_start=start_at, stop_load=proc.terminate)
        try:
            for line in proc.stdout:
                log_file.write(line)
                progress(line.rstrip())
            code = proc.wait()
        finally:
            watch.stop()
            if proc.poll() is None:  # interrupted: the load generator cuts its flows and exits
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if watch.check_deaths() is not None:
        raise HarnessError(
            f"a stack process died during the load: {watch.death}", logs=run_dir / "logs"
        )
    if code != 0 and not (watch.abort is not None and (run_dir / EVENTS).exists()):
        lines = log.read_text(errors="replace").splitlines()
        said = next((x for x in reversed(lines) if x.startswith("error:")), "")
        raise HarnessError(
            f"the load generator exited with code {code}"
            + (f" ({said})" if said else "")
            + f"; its log: {log}",
            detail="\n".join(lines[-30:]),
        )


def _load_window(run_dir: Path, started: float, ended: float) -> tuple[float, float]:
    """When the load really ran (the Locust processes' own clock, in load.json): warm-up is
    counted from its start, not from when the load generator was launched."""
    try:
        processes = json.loads((run_dir / "load.json").read_text())["processes"]
        starts = [float(p["load_start"]) for p in processes if p.get("load_start")]
        ends = [float(p["load_end"]) for p in processes if p.get("load_end")]
    except (OSError, ValueError, KeyError, TypeError):
        return started, ended
    return (min(starts) if starts else started), (max(ends) if ends else ended)


def _headline(events: list[dict[str, Any]], requests: list[dict[str, Any]]) -> dict[str, str]:
    done = [e for e in events if e.get("status") == "done"]
    processing = [e["processing_ms"] for e in done if e.get("processing_ms") is not None]
    hits = [e for e in done if e.get("cache_hit")]
    accepted = [e for e in events if e.get("accepted")]
    failed_requests = [r for r in requests if not r.get("ok")]

    def ms(values: list[float], pct: float) -> str:
        return f"{percentile(values, pct):.1f}" if values else "-"

    return {
        "scans started": str(len(events)),
        "jobs accepted": str(len(accepted)),
        "jobs done": str(len(done)),
        "jobs failed": str(sum(e.get("status") == "failed" for e in events)),
        "jobs lost": str(sum(e.get("status") not in ("done", "failed") for e in accepted)),
        "processing p50 / p95 ms": f"{ms(processing, 50)} / {ms(processing, 95)}",
        "cache hit ratio": f"{len(hits) / len(done):.3f}" if done else "-",
        "cache hits exact / near": " / ".join(
            str(sum(e.get("cache_match") == kind for e in hits)) for kind in ("exact", "near")
        ),
        "wrong answers (exact / near / model)": " / ".join(
            str(
                sum(
                    1
                    for e in done
                    if e.get("expected_category")
                    and e.get("got_category") != e.get("expected_category")
                    and (e.get("cache_match") or ("exact" if e.get("cache_hit") else "model"))
                    == kind
                )
            )
            for kind in ("exact", "near", "model")
        ),
        "requests": str(len(requests)),
        "request errors": str(len(failed_requests)),
    }


def _shown(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _gate_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for result in evaluation.gates:
        data = result.to_dict()
        thresholds = data["thresholds"]
        assert isinstance(thresholds, list)
        rows.append(
            {
                **data,
                "threshold": "; ".join(t["expression"] for t in thresholds),
                "observed_text": "; ".join(_shown(t["observed"]) for t in thresholds),
                "message": result.message,
            }
        )
    return rows


def _check_fault_servers(scenario: Scenario, options: RunOptions) -> None:
    """Refuse, before anything starts, faults this run cannot carry out (the field named)."""
    for index, fault in enumerate(scenario.faults):
        where = f"faults[{index}] ({fault.label})"
        if options.target is not None:
            raise HarnessError(f"{where}: faults act on a local stack; drop --target")
        needs = owned_by_faults((fault,))
        if needs and (isinstance(options.servers, ServerUrls) or options.servers == "running"):
            raise HarnessError(
                f"{where}: it needs {', '.join(sorted(needs))} owned by the run, and this run "
                "uses running servers; use --servers auto, ephemeral or container"
            )
        if fault.kind in RESTARTS and options.servers == "container":
            raise HarnessError(
                f"{where}: restarts act on ephemeral servers only; use --servers auto or ephemeral"
            )


def _target_gauges(
    options: RunOptions,
    scenario: Scenario,
    samples: Samples,
    *,
    flood: BatchFlood | None,
    progress: Progress,
) -> list[str]:
    """A target run's server-side gauges from the cluster's Prometheus, or each marked
    unavailable with the reason; the q.batch backlog needs the flood too."""
    from harness.collect.promql import PrometheusSource, prometheus_metrics

    notes = []
    if scenario.background.batch is not None and flood is None:
        samples.mark_unavailable(
            "queue_depth",
            "the background q.batch flood was skipped (--flood-broker URL publishes it)",
            tags={"queue": topology.BATCH.name},
        )
    if options.prometheus is None:
        for name in prometheus_metrics():
            samples.mark_unavailable(
                name,
                "a target run reads the broker, Redis and per-tier gauges from the cluster's "
                "Prometheus: pass --prometheus URL",
            )
        return notes
    assert samples.start is not None and samples.end is not None
    source = PrometheusSource(options.prometheus, step=options.prometheus_step)
    try:
        progress(f"reading the server-side gauges from {options.prometheus}...")
        source.wait_scraped(samples.end, timeout=3 * options.prometheus_step + 60)
        notes += source.read(samples, start=samples.start, end=samples.end)
    finally:
        source.close()
    return [f"prometheus: {note}" for note in notes]


def run(options: RunOptions, progress: Progress = lambda _: None) -> RunResult:
    """Run one scenario end to end; raises ``HarnessError`` when the harness cannot, in any
    phase. A failed cleanup after the verdict is one too (exit 2): the verdict stays in the
    report, and the summary records the cleanup failure and exit code 2."""
    scenario = load_scenario(options.scenario_path)
    if options.users is not None and options.users < 1:
        raise HarnessError("--users must be at least 1")
    if options.upload_rewrites:
        from harness.client import parse_upload_rewrites

        try:
            parse_upload_rewrites(options.upload_rewrites)
        except ValueError as exc:
            raise HarnessError(f"--upload-rewrite {exc}") from None
    if options.target is None and (options.prometheus or options.flood_broker):
        raise HarnessError(
            "--prometheus and --flood-broker are for a target run; a local run samples its own "
            "servers"
        )
    if options.faults and options.target is not None:
        raise HarnessError("faults are injected into a local stack; drop --target or --fault")
    _check_fault_servers(scenario, options)
    try:
        injected = [faults.fault(name) for name in options.faults]
    except KeyError as exc:
        raise HarnessError(str(exc.args[0])) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{scenario.name}-{stamp}"
    run_dir = options.reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    scenario_path = _effective_scenario(scenario, options, run_dir)
    scenario = load_scenario(scenario_path)
    series = Series()
    stack: LocalStack | None = None
    servers: RunServers | None = None
    timeline: FaultTimeline | None = None
    notes: list[str] = []
    closing = contextlib.ExitStack()
    result: RunResult | None = None
    owned_servers = contextlib.ExitStack()
    server_modes: dict[str, str] = {}
    try:
        if options.target is None:
            if isinstance(options.servers, ServerUrls):
                urls = options.servers
                check_servers(urls)  # say what is down before anything starts
                check_management(urls)  # the queue gates read it
                server_modes = dict.fromkeys(("postgres", "redis", "rabbitmq"), "running")
            else:
                progress(f"getting servers ({options.servers})...")
                must_own = owned_by_faults(scenario.faults)
                servers = owned_servers.enter_context(
                    RunServers(options.servers, owned=must_own)  # type: ignore[arg-type]
                )
                urls = servers.urls()
                server_modes = dict(servers.modes())
            progress(f"bringing the stack up for {scenario.name}...")
            stack = LocalStack(_stack_options(scenario, options, run_dir, urls))
            stack.start()
            base_url = stack.base_url
        else:
            base_url = options.target.rstrip("/")
        _check_target(base_url)

        samplers: dict[str, Any] = {}
        flood = None
        if stack is not None and stack.settings is not None:
            samplers["rabbitmq"] = RabbitSampler(
                stack.settings.broker_url, management_url=urls.management_url
            )
            samplers["redis"] = RedisSampler(stack.settings.redis_url)
            samplers["metrics"] = PrometheusSampler(stack.metrics_urls)
            samplers["resources"] = ResourceSampler(
                [Watched(n, _tier(n), p.pid) for n, p in stack.processes.items() if p.pid]
            )
            flood = BatchFlood(scenario, stack.settings, series)
        else:
            samplers["metrics"] = PrometheusSampler({"gateway": f"{base_url}/metrics"})
            if options.flood_broker is not None:
                flood = BatchFlood(scenario, Settings(broker_url=options.flood_broker), series)
            elif scenario.background.batch is not None:
                notes.append(
                    "background batch flood skipped: the target's broker is not ours "
                    "(--flood-broker URL publishes it)"
                )
        for sampler_object in samplers.values():
            closing.callback(getattr(sampler_object, "close", lambda: None))
        collectors = {name: s.sample for name, s in samplers.items()}
        _preflight(collectors)
        sampler = Sampler(collectors, series, options.sample_interval).start()
        # One timeline for the load and the flood: the load's t=0, agreed in advance.
        processes = options.processes or scenario.load.locust_processes
        started = time.time() + options.load_start_grace + 0.5 * processes
        if flood is not None:
            flood.start(started)
        watch = LoadWatch(
            stack=stack,
            gates=scenario.gates,
            warmup=scenario.warmup,
            series=series,
            events_dir=run_dir / LOAD_PARTS,
        )
        if stack is not None and scenario.faults:
            try:
                timeline = FaultTimeline(
                    scenario.faults,
                    stack=stack,
                    servers=servers,
                    time_scale=scenario.load.time_scale,
                    progress=progress,
                ).start(started)
            except FaultError as exc:
                raise HarnessError(str(exc)) from None
        try:
            with contextlib.ExitStack() as active:
                for inject, name in zip(injected, options.faults, strict=True):
                    assert stack is not None
                    progress(f"injecting fault {name}")
                    active.enter_context(inject(stack))
                _run_load(options, scenario_path, base_url, run_dir, progress, started, watch=watch)
        finally:
            if timeline is not None:
                timeline.stop()
            if flood is not None:
                flood.stop()
            sampler.stop()
        if timeline is not None and timeline.errors():
            assert stack is not None
            raise HarnessError("; ".join(timeline.errors()) + f"\n{stack.logs_digest()}")
        ended = time.time()
        started, planned_end = _load_window(run_dir, started, ended)
        ended = min(ended, planned_end) if watch.abort else planned_end
        notes += [f"collector {name} failed: {error}" for name, error in sampler.errors.items()]
        notes += [f"live gate check failed: {error}" for error in watch.errors[:3]]
        if watch.abort is not None:
            at = watch.abort.seconds_into(started)
            progress(f"stopped early: {watch.abort.gate} broke at {at:.1f}s")
            notes.append(
                f"stopped early at {at:.1f} s into the load: gate {watch.abort.gate!r} "
                f"(abort_on_fail) broke: {watch.abort.message}"
            )

        events = read_events(run_dir / EVENTS)
        requests = read_requests(run_dir / REQUESTS)
        # The load generator already gave flows in flight the drain; what it cut gets a last
        # short look on the server before it counts as lost.
        settle_notes = settle_open_jobs(events, stack, min(options.drain_seconds, 10.0))
        if settle_notes:
            notes += settle_notes
            write_events(run_dir / EVENTS, events)
        checks = read_checks(run_dir / CHECKS)
        notes += observations.check_notes(events, checks)
        samples = observations.build(
            events, requests, series, start=started, end=ended, checks=checks
        )
        if options.target is not None:
            notes += _target_gauges(options, scenario, samples, flood=flood, progress=progress)
        outcomes: list[recovery.FaultOutcome] = []
        if timeline is not None and stack is not None:
            twice = recovery.answered_twice(events, finish_times(events, stack))
            outcomes = recovery.judge_faults(
                [w.to_dict() for w in timeline.windows],
                events,
                series,
                twice=twice,
                time_scale=scenario.load.time_scale,
                steady_from=started + scenario.warmup,
                run_end=ended,
            )
            recovery.add_observations(samples, outcomes, events, twice=twice)
        evaluation = scenario.evaluate(samples)
        verdict, exit_code = _verdict(evaluation, watch=watch, options=options, notes=notes)
        series.write_csv(run_dir / SERIES)
        summary = {
            "run_id": run_id,
            "scenario": {
                "name": scenario.name,
                "description": scenario.description,
                "file": str(options.scenario_path),
                "users_override": options.users,
            },
            "target": base_url if options.target else f"local stack ({base_url})",
            "servers": server_modes,
            "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "duration_seconds": ended - started,
            "warmup_seconds": scenario.warmup,
            "verdict": verdict.value,
            "exit_code": exit_code,
            "aborted": watch.abort.to_dict(started) if watch.abort else None,
            "headline": _headline(events, requests),
            "gates": _gate_rows(evaluation),
            "stack_startup_seconds": stack.startup_seconds if stack else {},
            "faults": list(options.faults),
            "fault_windows": [w.to_dict() for w in timeline.windows] if timeline else [],
            "fault_outcomes": [o.to_dict() for o in outcomes],
            "stack_overrides": {
                "settings": {k: str(v) for k, v in options.stack_settings.items()},
                "worker_args": {k: list(v) for k, v in options.worker_args.items()},
                "workers": list(options.workers),
            }
            if options.target is None
            else {},
            "notes": notes,
        }
        (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        write_junit(summary, run_dir / "junit.xml")
        write_html(RunData(run_dir, summary, events, requests, series, checks))
        result = RunResult(run_dir, evaluation, summary, int(summary["exit_code"]))
    except Exception as exc:
        logs = run_dir / "logs" if (run_dir / "logs").exists() else run_dir
        failure = as_harness_error(exc, logs=logs)
        cleanup = _clean_up(closing, stack, owned_servers)
        if cleanup is not None:  # the first failure is the one to report; both in --debug
            failure.detail = f"{failure.detail}\nand then: {cleanup.line()}".strip()
        raise failure from exc
    except BaseException:  # Ctrl-C, SIGTERM: still take the stack down
        _clean_up(closing, stack, owned_servers)
        raise
    assert result is not None
    cleanup = _clean_up(closing, stack, owned_servers)
    if cleanup is not None:
        _record_harness_failure(result, cleanup)
        cleanup.message += f" (after the verdict, {result.summary['verdict']}, in {run_dir})"
        cleanup.logs = run_dir / "logs"
        raise cleanup
    return result


def _verdict(
    evaluation: Evaluation, *, watch: LoadWatch, options: RunOptions, notes: list[str]
) -> tuple[Verdict, int]:
    """The run's verdict and exit code: a run stopped early by a gate never passes, even when
    the complete data no longer show that gate broken (then a note says so)."""
    verdict = evaluation.verdict
    if watch.abort is not None:
        final = {g.gate.title: g.verdict for g in evaluation.gates}.get(watch.abort.gate)
        if final is not Verdict.FAIL:
            notes.append(
                f"gate {watch.abort.gate!r} was broken while the load ran but is {final} on "
                "the complete data; the run still fails: it stopped early"
            )
        verdict = Verdict.FAIL
    return verdict, exit_code_of(verdict, inconclusive_ok=options.inconclusive_ok)


def _clean_up(
    closing: contextlib.ExitStack, stack: LocalStack | None, servers: contextlib.ExitStack
) -> CleanupError | None:
    """Close the samplers, take the stack down, then stop the servers the run started (each,
    whatever fails); the first failure is returned, never raised."""
    failures: list[CleanupError] = []
    for step in (closing.close, stack.stop if stack is not None else None, servers.close):
        if step is None:
            continue
        try:
            step()
        except CleanupError as exc:
            failures.append(exc)
        except Exception as exc:
            text = f"cleanup failed: {type(exc).__name__}: {exc}".splitlines()[0]
            failures.append(CleanupError(text))
    return failures[0] if failures else None


def _record_harness_failure(result: RunResult, error: HarnessError) -> None:
    """A run whose cleanup failed exits 2, and its summary (read by ``report``) says why."""
    result.summary["exit_code"] = result.exit_code = EXIT_HARNESS_ERROR
    result.summary["harness_error"] = error.message
    (result.run_dir / SUMMARY).write_text(json.dumps(result.summary, indent=2, ensure_ascii=False))


__all__ = ["EXIT_HARNESS_ERROR", "HarnessError", "RunOptions", "RunResult", "run"]
