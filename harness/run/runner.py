"""Running a scenario: bring the stack up (or use a target URL), apply the load, sample the
system, account for every accepted job, judge the gates and write the report.

Exit codes: 0 every gate passed, 1 a gate failed (or could not decide, or an ``abort_on_fail``
gate stopped the load early), 2 the harness itself failed (a server, stack or target that does
not answer or start, a stack process or the load generator dying, a failed cleanup).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.app.target import TargetError, check_target
from harness.collect.prometheus import PrometheusSampler
from harness.collect.rabbitmq import RabbitSampler
from harness.collect.redis_stats import RedisSampler
from harness.collect.resources import ResourceSampler, Watched
from harness.collect.sampler import Sampler
from harness.collect.series import Series, point
from harness.errors import CleanupError, HarnessError, as_harness_error
from harness.gates.evaluate import EXIT_HARNESS_ERROR, Evaluation, Verdict
from harness.gates.evaluate import exit_code as exit_code_of
from harness.gates.measurements import Samples
from harness.gates.stats import percentile
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
from harness.run import faults, observations, recovery
from harness.run.fault_timeline import FaultError, FaultTimeline
from harness.run.load import check_settings, run_load
from harness.run.settle import finish_times, settle_open_jobs
from harness.run.watch import LoadWatch
from harness.scenario import Scenario, load_scenario, toml_writer
from harness.scenario.faults import RESTARTS, proxied_servers
from harness.scenario.faults import owned_servers as owned_by_faults
from harness.stack.local import SEED_LOCATION_POINTS, LocalStack, StackOptions
from harness.stack.sandbox import ServerUrls, check_management, check_servers
from harness.stack.servers import RunServers
from loadtests import abuse
from loadtests.protocol import LoadPlan, LoadSettings
from reference.common import tiers, topology
from reference.common.settings import Settings

Progress = Callable[[str], None]


def _tier(process: str) -> str:
    """The seed's tier of a local process (each gateway process serves every service)."""
    if process == "gateway" or process.startswith("gateway-"):
        return "api"
    if process.startswith("worker-"):
        return topology.worker(process.split("-")[1]).tier
    return "fakes"


@dataclass
class RunOptions:
    scenario_path: Path
    target: str | None = None  # a deployed stack's base URL; None brings a local stack up
    reports_dir: Path = Path("reports")
    processes: int | None = None
    # How the local stack gets its servers (``--servers``; harness.stack.servers), or the URLs of
    # servers already running to use as they are.
    servers: SelectMode | ServerUrls = "auto"
    # For tests that break the system on purpose: settings of the stack's services and workers,
    # and extra arguments per worker (e.g. {"ai": ("--queues=q.ai,q.batch",)}).
    stack_settings: dict[str, object] = field(default_factory=dict)
    worker_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Local workers to start, and faults to inject during the load (harness.run.faults).
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
    # Processes serving the local gateway's port; None: the seed's (tiers.gateway_processes).
    gateway_processes: int | None = None
    sample_interval: float = 1.0
    # A target run's server-side gauges (queues, Redis, CPU and memory by tier): the cluster's
    # Prometheus, queried at this step over the run's window.
    prometheus: str | None = None
    prometheus_step: float = 5.0
    # A target run's q.batch flood is published through this broker (from inside the cluster).
    flood_broker: str | None = None
    # Locust's master and workers (harness.run.load): workers elsewhere connect to ``master_bind``
    # (HOST:PORT); the load starts once ``expect_workers`` are ready (default: the local
    # ``processes``), at most ``expect_workers_timeout`` seconds; ``ui``: Locust's web UI.
    master_bind: str | None = None
    expect_workers: int | None = None
    expect_workers_timeout: float = 120.0
    ui: bool = False
    # The base URL the Locust workers send the app's requests to, when they reach the target by
    # another address than the harness (workers inside a cluster); default: the target.
    load_target: str | None = None
    # A local stack already up to run on instead of starting one (the tests share one among
    # the runs whose breakage needs no restart). It must have been started as this run would
    # start it, the fakes' configuration aside: the run resets it (harness.stack.local.LocalStack.
    # reset), with the scenario's fakes, and leaves it running.
    stack: LocalStack | None = None


@dataclass
class RunResult:
    run_dir: Path
    evaluation: Evaluation
    summary: dict[str, Any]
    exit_code: int


def _effective_scenario(
    scenario: Scenario, options: RunOptions, run_dir: Path
) -> tuple[Path, Scenario]:
    """Write the scenario this run applies into the run folder (with ``users`` applied) and
    return its path and what it reads back as: the load generator reads it, and the run can be
    repeated from it."""
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
    return path, load_scenario(path)  # what was written reads back as a valid scenario


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
        gateway_processes=options.gateway_processes or tiers.gateway_processes(),
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


def _load_window(run_dir: Path, ended: float) -> tuple[float, float]:
    """When the load really ran (the workers' own clock, in load.json): warm-up is counted
    from its start."""
    try:
        processes = json.loads((run_dir / "load.json").read_text())["processes"]
        starts = [float(p["load_start"]) for p in processes if p.get("load_start")]
        ends = [float(p["load_end"]) for p in processes if p.get("load_end")]
    except (OSError, ValueError, KeyError, TypeError):
        return ended, ended
    return (min(starts) if starts else ended), (max(ends) if ends else ended)


def _headline(events: list[dict[str, Any]], requests: list[dict[str, Any]]) -> dict[str, str]:
    done = [e for e in events if e.get("status") == "done"]
    processing = [e["processing_ms"] for e in done if e.get("processing_ms") is not None]
    hits = [e for e in done if e.get("cache_hit")]
    accepted = [e for e in events if e.get("accepted")]
    # An abusive user's requests (mix.abusive) are meant to be refused: not the app's errors.
    abusive = [r for r in requests if r.get("actor") == abuse.ACTOR]
    requests = [r for r in requests if r.get("actor") != abuse.ACTOR]
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
        **(
            {
                "abusive requests / refused": (
                    f"{len(abusive)} / {sum(r.get('status') == '429' for r in abusive)}"
                )
            }
            if abusive
            else {}
        ),
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
        running = options.stack is not None or isinstance(options.servers, ServerUrls)
        if needs and (running or options.servers == "running"):
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


@dataclass
class _Run:
    """What the phases of one run share, and what cleanup must take down."""

    options: RunOptions
    scenario: Scenario
    scenario_path: Path  # the scenario this run applies, written into its folder
    run_id: str
    run_dir: Path
    progress: Progress
    injected: list[faults.Fault]
    series: Series = field(default_factory=Series)
    notes: list[str] = field(default_factory=list)
    stack: LocalStack | None = None
    servers: RunServers | None = None
    urls: ServerUrls | None = None
    server_modes: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    flood: BatchFlood | None = None
    sampler: Sampler | None = None
    timeline: FaultTimeline | None = None
    watch: LoadWatch | None = None
    closing: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    owned_servers: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def clean_up(self) -> CleanupError | None:
        own_stack = self.stack if self.options.stack is None else None  # a shared one stays up
        return _clean_up(self.closing, own_stack, self.owned_servers)


@dataclass
class _Measured:
    """What the load left, read back and settled."""

    started: float
    ended: float
    events: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    checks: list[dict[str, Any]]


def run(options: RunOptions, progress: Progress = lambda _: None) -> RunResult:
    """Run one scenario end to end; raises ``HarnessError`` when the harness cannot, in any
    phase. A failed cleanup after the verdict is one too (exit 2): the verdict stays in the
    report, and the summary records the cleanup failure and exit code 2."""
    state = _options_phase(options, progress)
    try:
        _stack_phase(state)
        _collectors_phase(state)
        _faults_phase(state)
        _load_phase(state)
        measured = _settle_phase(state)
        evaluation, outcomes = _judge_phase(state, measured)
        result = _report_phase(state, measured, evaluation, outcomes)
    except Exception as exc:
        logs = state.run_dir / "logs" if (state.run_dir / "logs").exists() else state.run_dir
        failure = as_harness_error(exc, logs=logs)
        cleanup = state.clean_up()
        if cleanup is not None:  # the first failure is the one to report; both in --debug
            failure.detail = f"{failure.detail}\nand then: {cleanup.line()}".strip()
        raise failure from exc
    except BaseException:  # Ctrl-C, SIGTERM: still take the stack down
        state.clean_up()
        raise
    cleanup = state.clean_up()
    if cleanup is not None:
        _record_harness_failure(result, cleanup)
        cleanup.message += f" (after the verdict, {result.summary['verdict']}, in {state.run_dir})"
        cleanup.logs = state.run_dir / "logs"
        raise cleanup
    return result


def _options_phase(options: RunOptions, progress: Progress) -> _Run:
    """Check every option before anything starts; make the run folder and its scenario."""
    scenario = load_scenario(options.scenario_path)
    if options.users is not None and options.users < 1:
        raise HarnessError("--users must be at least 1")
    if options.upload_rewrites:
        from harness.app.client import parse_upload_rewrites

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
    if options.load_target is not None and options.target is None:
        raise HarnessError("--load-target goes with --target URL (a local stack has one address)")
    if options.stack is not None and options.target is not None:
        raise HarnessError("a run goes to a target or to a local stack, not both")
    check_settings(_load_settings(options, scenario))
    _check_fault_servers(scenario, options)
    try:
        injected = [faults.fault(name) for name in options.faults]
    except KeyError as exc:
        raise HarnessError(str(exc.args[0])) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{scenario.name}-{stamp}"
    run_dir = options.reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    scenario_path, scenario = _effective_scenario(scenario, options, run_dir)
    return _Run(options, scenario, scenario_path, run_id, run_dir, progress, injected)


def _load_settings(options: RunOptions, scenario: Scenario) -> LoadSettings:
    return LoadSettings(
        processes=scenario.load.locust_processes
        if options.processes is None
        else options.processes,
        master_bind=options.master_bind,
        expect_workers=options.expect_workers,
        expect_workers_timeout=options.expect_workers_timeout,
        ui=options.ui,
    )


def _load_plan(state: _Run) -> LoadPlan:
    """The load every worker runs: this run's scenario, against the target (or the address the
    workers reach it by), with the run's drain and upload rewrites."""
    from harness.app.client import parse_upload_rewrites

    options = state.options
    return LoadPlan.of(
        state.scenario,
        state.scenario_path,
        options.load_target or state.base_url,
        drain_timeout=options.drain_seconds,
        upload_rewrites=parse_upload_rewrites(options.upload_rewrites),
    )


def _stack_phase(state: _Run) -> None:
    """The servers and the local stack (or the target), probed once."""
    options, scenario = state.options, state.scenario
    if options.stack is not None:
        _shared_stack(state, options.stack)
    elif options.target is None:
        if isinstance(options.servers, ServerUrls):
            state.urls = options.servers
            check_servers(state.urls)  # say what is down before anything starts
            check_management(state.urls)  # the queue gates read it
            state.server_modes = dict.fromkeys(("postgres", "redis", "rabbitmq"), "running")
        else:
            state.progress(f"getting servers ({options.servers})...")
            must_own = owned_by_faults(scenario.faults)
            state.servers = state.owned_servers.enter_context(
                RunServers(options.servers, owned=must_own)  # type: ignore[arg-type]
            )
            state.urls = state.servers.urls()
            state.server_modes = dict(state.servers.modes())
        state.progress(f"bringing the stack up for {scenario.name}...")
        state.stack = LocalStack(_stack_options(scenario, options, state.run_dir, state.urls))
        state.stack.start()
        state.base_url = state.stack.base_url
    else:
        state.base_url = options.target.rstrip("/")
    try:
        check_target(state.base_url)
    except TargetError as exc:
        raise HarnessError(str(exc)) from None


# What a run sets on a shared stack itself: its folder, and the fakes' configs (reset sends
# them) that the fakes' arguments name.
RUN_OWN_STACK_OPTIONS = ("run_dir", "openai_args", "kakao_args")


def fake_configs(scenario: Scenario) -> dict[str, str]:
    """The scenario's configs of the stack's fakes (JSON), as a reset sends them."""
    fakes = scenario.fakes
    return {"openai": fakes.openai.model_dump_json(), "kakao": fakes.kakao.model_dump_json()}


def _shared_stack(state: _Run, stack: LocalStack) -> None:
    """Run on a stack already up: refused unless it was started as this run would start it,
    then reset with the scenario's fakes."""
    wanted = _stack_options(state.scenario, state.options, state.run_dir, stack.options.servers)
    differing = [
        f.name
        for f in dataclasses.fields(StackOptions)
        if f.name not in RUN_OWN_STACK_OPTIONS
        and getattr(stack.options, f.name) != getattr(wanted, f.name)
    ]
    if differing:
        raise HarnessError(
            f"the shared stack was started with other {', '.join(differing)} than this run "
            "needs; give the run a stack of its own"
        )
    state.progress(f"resetting the shared stack for {state.scenario.name}...")
    stack.reset(fake_configs(state.scenario))
    state.stack, state.urls, state.base_url = stack, stack.options.servers, stack.base_url
    state.server_modes = dict.fromkeys(("postgres", "redis", "rabbitmq"), "running")
    state.notes.append("ran on a shared local stack, reset before the load")


def _collectors_phase(state: _Run) -> None:
    """The samplers (each checked once before the load) and the q.batch flood."""
    options, scenario, stack = state.options, state.scenario, state.stack
    samplers: dict[str, Any] = {}
    if stack is not None and stack.settings is not None:
        assert state.urls is not None
        samplers["rabbitmq"] = RabbitSampler(
            stack.settings.broker_url, management_url=state.urls.management_url
        )
        samplers["redis"] = RedisSampler(stack.settings.redis_url)
        samplers["metrics"] = PrometheusSampler(stack.metrics_urls)
        samplers["resources"] = ResourceSampler(
            [Watched(n, _tier(n), p.pid) for n, p in stack.processes.items() if p.pid]
        )
        state.flood = BatchFlood(scenario, stack.settings, state.series)
    else:
        samplers["metrics"] = PrometheusSampler({"gateway": f"{state.base_url}/metrics"})
        if options.flood_broker is not None:
            state.flood = BatchFlood(
                scenario, Settings(broker_url=options.flood_broker), state.series
            )
        elif scenario.background.batch is not None:
            state.notes.append(
                "background batch flood skipped: the target's broker is not ours "
                "(--flood-broker URL publishes it)"
            )
    for sampler_object in samplers.values():
        state.closing.callback(getattr(sampler_object, "close", lambda: None))
    collectors = {name: s.sample for name, s in samplers.items()}
    _preflight(collectors)
    state.sampler = Sampler(collectors, state.series, options.sample_interval).start()


def _faults_phase(state: _Run) -> None:
    """The scenario's fault timeline (started with the load) and the live watch."""
    scenario, stack = state.scenario, state.stack
    state.watch = LoadWatch(
        stack=stack,
        gates=scenario.gates,
        warmup=scenario.warmup,
        series=state.series,
        events_path=state.run_dir / EVENTS,
    )
    if stack is not None and scenario.faults:
        try:
            state.timeline = FaultTimeline(
                scenario.faults,
                stack=stack,
                servers=state.servers,
                time_scale=scenario.load.time_scale,
                progress=state.progress,
            )
        except FaultError as exc:
            raise HarnessError(str(exc)) from None


def _load_phase(state: _Run) -> None:
    """The load, with the injected faults on; they, the flood and the fault timeline start on
    the load's t=0, when the master says every worker is ready."""
    options = state.options
    assert state.watch is not None and state.sampler is not None

    try:
        with contextlib.ExitStack() as active:

            def on_start(load_start: float) -> None:
                # The injected faults start on the load's t=0 too: s3-down's "3 s into the
                # load" counted from before the workers were ready once ran out before the
                # first upload, and every user then polled one job for the whole run.
                for inject, name in zip(state.injected, options.faults, strict=True):
                    assert state.stack is not None
                    state.progress(f"injecting fault {name}")
                    active.enter_context(inject(state.stack))
                if state.flood is not None:
                    state.flood.start(load_start)
                if state.timeline is not None:
                    state.timeline.start(load_start)

            run_load(
                _load_settings(options, state.scenario),
                _load_plan(state),
                run_dir=state.run_dir,
                watch=state.watch,
                on_start=on_start,
                progress=state.progress,
            )
    finally:
        if state.timeline is not None:
            state.timeline.stop()
        if state.flood is not None:
            state.flood.stop()
        state.sampler.stop()
    if state.timeline is not None and state.timeline.errors():
        assert state.stack is not None
        raise HarnessError("; ".join(state.timeline.errors()) + f"\n{state.stack.logs_digest()}")


def _settle_phase(state: _Run) -> _Measured:
    """The load's real window, the rows it left, and a last look at the jobs it cut."""
    watch, run_dir = state.watch, state.run_dir
    assert watch is not None and state.sampler is not None
    ended = time.time()
    started, planned_end = _load_window(run_dir, ended)
    ended = min(ended, planned_end) if watch.abort else planned_end
    state.notes += [f"collector {n} failed: {e}" for n, e in state.sampler.errors.items()]
    state.notes += [f"live gate check failed: {error}" for error in watch.errors[:3]]
    if watch.abort is not None:
        at = watch.abort.seconds_into(started)
        state.progress(f"stopped early: {watch.abort.gate} broke at {at:.1f}s")
        state.notes.append(
            f"stopped early at {at:.1f} s into the load: gate {watch.abort.gate!r} "
            f"(abort_on_fail) broke: {watch.abort.message}"
        )
    events = read_events(run_dir / EVENTS)
    requests = read_requests(run_dir / REQUESTS)
    # The load generator already gave flows in flight the drain; what it cut gets a last
    # short look on the server before it counts as lost.
    settle_notes = settle_open_jobs(events, state.stack, min(state.options.drain_seconds, 10.0))
    if settle_notes:
        state.notes += settle_notes
        write_events(run_dir / EVENTS, events)
    checks = read_checks(run_dir / CHECKS)
    return _Measured(started, ended, events, requests, checks)


def _judge_phase(
    state: _Run, measured: _Measured
) -> tuple[Evaluation, list[recovery.FaultOutcome]]:
    """Observations from every source, the faults' recoveries, the gates."""
    options, scenario, stack, timeline = state.options, state.scenario, state.stack, state.timeline
    events, series = measured.events, state.series
    state.notes += observations.check_notes(events, measured.checks)
    windows = [w.to_dict() for w in timeline.windows] if timeline is not None else []
    samples = observations.build(
        events,
        measured.requests,
        series,
        start=measured.started,
        end=measured.ended,
        checks=measured.checks,
        faults=recovery.played(windows),
    )
    if options.target is not None:
        state.notes += _target_gauges(
            options, scenario, samples, flood=state.flood, progress=state.progress
        )
    outcomes: list[recovery.FaultOutcome] = []
    if timeline is not None and stack is not None:
        twice = recovery.answered_twice(events, finish_times(events, stack))
        outcomes = recovery.judge_faults(
            windows,
            events,
            series,
            twice=twice,
            time_scale=scenario.load.time_scale,
            steady_from=measured.started + scenario.warmup,
            run_end=measured.ended,
        )
        recovery.add_observations(samples, outcomes, events, twice=twice)
    return scenario.evaluate(samples), outcomes


def _report_phase(
    state: _Run,
    measured: _Measured,
    evaluation: Evaluation,
    outcomes: list[recovery.FaultOutcome],
) -> RunResult:
    """The verdict, summary.json, junit.xml, report.html and series.csv."""
    options, scenario, watch, timeline = state.options, state.scenario, state.watch, state.timeline
    assert watch is not None
    started, ended = measured.started, measured.ended
    verdict, exit_code = _verdict(evaluation, watch=watch, options=options, notes=state.notes)
    state.series.write_csv(state.run_dir / SERIES)
    summary = {
        "run_id": state.run_id,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "file": str(options.scenario_path),
            "users_override": options.users,
        },
        "target": state.base_url if options.target else f"local stack ({state.base_url})",
        "servers": state.server_modes,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "duration_seconds": ended - started,
        "warmup_seconds": scenario.warmup,
        "verdict": verdict.value,
        "exit_code": exit_code,
        "aborted": watch.abort.to_dict(started) if watch.abort else None,
        "headline": _headline(measured.events, measured.requests),
        "gates": _gate_rows(evaluation),
        "stack_startup_seconds": state.stack.startup_seconds
        if state.stack and options.stack is None
        else {},
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
        "notes": state.notes,
    }
    run_dir = state.run_dir
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    write_junit(summary, run_dir / "junit.xml")
    write_html(
        RunData(run_dir, summary, measured.events, measured.requests, state.series, measured.checks)
    )
    return RunResult(run_dir, evaluation, summary, int(summary["exit_code"]))


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


__all__ = ["EXIT_HARNESS_ERROR", "HarnessError", "RunOptions", "RunResult", "fake_configs", "run"]
