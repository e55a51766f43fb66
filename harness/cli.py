"""``wastecoach``: run a scenario and gate on it, read and compare reports, bring the reference
stack up, run the demo flow, benchmark it.

Exit codes: 0 success (every gate passed), 1 the system under test misbehaved (a gate failed or
could not decide, a wrong or missing answer), 2 the harness itself could not run (a bad
scenario, a server or target unreachable, the stack failed to start or a process of it died, the
load generator died, cleanup failed). A harness failure is one line on stderr; ``--debug`` adds
the logs' tails and the traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError, as_harness_error
from harness.report.rundata import RunData
from harness.servers import RunServers, mode_from
from harness.stack import SEED_LOCATION_POINTS, LocalStack, StackOptions
from reference.common.settings import Settings

if TYPE_CHECKING:
    from harness.run import RunOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True)

REPORTS = Path("reports")
_debug = False  # --debug: tracebacks and log tails with a harness failure


@app.callback()
def _main_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="WASTECOACH_DEBUG", help="show the traceback of a harness failure"
        ),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _report_failure(exc: BaseException) -> None:
    """One line on stderr (what failed, what to do, the logs); the long story with --debug."""
    failure = as_harness_error(exc)
    err.print("[red]harness error:[/red] ", end="")
    err.print(failure.line(), markup=False, highlight=False, soft_wrap=True)
    if _debug:
        if failure.detail:
            err.print(failure.detail, markup=False, highlight=False, soft_wrap=True)
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)


def _command(*args: object, **kwargs: object) -> Callable[[Callable[..., None]], object]:
    """``app.command`` whose harness failures, of any kind and in any phase, end as one line
    and exit code 2 (Ctrl-C and SIGTERM too: the stack was taken down, no verdict)."""

    def register(function: Callable[..., None]) -> object:
        @functools.wraps(function)
        def guarded(*a: object, **kw: object) -> None:
            try:
                function(*a, **kw)
            except (typer.Exit, typer.Abort, click.ClickException):
                raise  # exit codes and usage errors typer already reports
            except KeyboardInterrupt:
                err.print("[red]interrupted:[/red] what was running was taken down; no verdict")
                raise typer.Exit(2) from None
            except Exception as exc:
                _report_failure(exc)
                raise typer.Exit(2) from None

        return app.command(*args, **kwargs)(guarded)  # type: ignore[arg-type]

    return register


LatencyOpt = Annotated[
    str,
    typer.Option(help="Mock OpenAI latency: uniform:LOW:HIGH, fixed:SECONDS or lognormal:MU:SIGMA"),
]


def _run_dir(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return REPORTS / f"{kind}-{stamp}"


ServersOpt = Annotated[
    str,
    typer.Option(
        "--servers",
        envvar="WASTECOACH_SERVERS",
        help="PostgreSQL, Redis and RabbitMQ: auto (running if they answer, else ephemeral "
        "from installed binaries, else containers), running, ephemeral or container",
    ),
]


def _options(kind: str, latency: str, **overrides: object) -> StackOptions:
    fields: dict[str, object] = {"workers": ("ai",), **overrides}
    return StackOptions(
        run_dir=_run_dir(kind),
        openai_args=("--latency", latency),
        **fields,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def _local_stack(options: StackOptions, servers: str) -> Iterator[LocalStack]:
    """The servers (``--servers``) and the stack on them, both taken down on the way out."""
    mode = mode_from(servers)
    with contextlib.ExitStack() as owned:
        with console.status(f"getting servers ({mode})..."):
            run_servers = owned.enter_context(RunServers(mode))
        stack = LocalStack(replace(options, servers=run_servers.urls()))
        with console.status("bringing the stack up..."):
            stack.start()
        console.print(f"servers: {', '.join(f'{k} {m}' for k, m in run_servers.modes().items())}")
        try:
            yield stack
        finally:
            with console.status("taking the stack down..."):
                stack.stop()


def _print_urls(stack: LocalStack) -> None:
    table = Table(title="reference stack", show_header=False)
    for name, url in stack.urls().items():
        table.add_row(name, url)
    console.print(table)
    console.print(f"started in {sum(stack.startup_seconds.values()):.1f}s {stack.startup_seconds}")


@_command()
def up(
    latency: LatencyOpt = "uniform:2:5",
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="the gateway's port (default: a free one)")
    ] = None,
    servers: ServersOpt = "auto",
) -> None:
    """Bring up the stack the mobile app needs (every worker at the seed's replicas, beat, the
    collection points), print its URLs and its health, stop on Ctrl-C."""
    from reference.common import topology

    options = _options(
        "up",
        latency,
        workers=tuple(w.name for w in topology.WORKERS),
        worker_replicas={w.name: w.replicas for w in topology.WORKERS},
        beat=True,
        location_points=SEED_LOCATION_POINTS,
        gateway_port=port,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with _local_stack(options, servers) as stack:
        _print_urls(stack)
        console.print("press Ctrl-C to stop")
        reported: list[str] = []
        try:
            while not stopping.is_set():
                problems = stack.health()
                if problems != reported:
                    for problem in problems:
                        err.print(f"[yellow]unhealthy:[/yellow] {problem}")
                    if reported and not problems:
                        console.print("healthy again")
                    reported = problems
                if dead := stack.unexpected_deaths():
                    raise HarnessError("; ".join(dead), logs=stack.log_dir)
                stopping.wait(1.0)
        except KeyboardInterrupt:
            pass
    console.print("stack stopped, sandbox removed")


@_command()
def demo(
    latency: LatencyOpt = "uniform:2:5",
    item: Annotated[str, typer.Option(help="catalog item to photograph")] = "water_bottle",
    servers: ServersOpt = "auto",
) -> None:
    """Analyse a sample photo through the whole flow twice (a cache miss, then a hit)."""
    from harness.auth_client import LoginError, dev_login
    from harness.client import FlowError, WasteClient
    from harness.mocks import catalog

    try:
        photo_item = catalog.get(item)
    except KeyError:
        err.print(
            f"error: no catalog item {item!r}; one of: {', '.join(i.key for i in catalog.ITEMS)}"
        )
        raise typer.Exit(2) from None
    photo = catalog.render(photo_item, seed=int(time.time()))  # a fresh photo: first is a miss
    with _local_stack(_options("demo", latency), servers) as stack:
        _print_urls(stack)
        try:
            with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
                flows = [client.analyze_photo(photo, follow="poll") for _ in range(2)]
        except (FlowError, LoginError, TimeoutError) as exc:
            err.print(f"[red]failed:[/red] {exc}")
            raise typer.Exit(1) from None
    table = Table(title=f"photo of {photo_item.name_en} ({len(photo)} bytes)")
    for column in (
        "run",
        "status",
        "cache",
        "item",
        "category",
        "client s",
        "server ms",
        "model ms",
    ):
        table.add_column(column)
    for run, flow in zip(("1st", "2nd"), flows, strict=True):
        result = flow.result or {}
        table.add_row(
            run,
            flow.status,
            "hit" if flow.cache_hit else "miss",
            str(result.get("item")),
            f"{result.get('category')} ({result.get('category_label')})",
            f"{flow.processing_seconds:.3f}",
            f"{flow.server_timings.get('processing_ms') or 0:.1f}",
            f"{flow.server_timings.get('model_ms') or 0:.1f}",
        )
    console.print(table)
    if flows[0].result:
        for number, step in enumerate(flows[0].result["disposal_steps"], 1):
            console.print(f"  {number}. {step}")
    right = all(f.result and f.result["category"] == photo_item.category.value for f in flows)
    if not right or flows[0].cache_hit or not flows[1].cache_hit:
        err.print("[red]failed:[/red] expected a right answer, a miss and then a hit")
        raise typer.Exit(1)


@_command()
def bench(
    photos: Annotated[int, typer.Option(min=1, help="distinct photos (each run twice)")] = 30,
    concurrency: Annotated[int, typer.Option(min=1, help="flows in flight")] = 3,
    latency: LatencyOpt = "uniform:2:5",
    servers: ServersOpt = "auto",
) -> None:
    """Benchmark the image path: processing time for misses and hits, and stack overhead."""
    from harness.bench import run_bench

    options = _options("bench", latency)
    with _local_stack(options, servers) as stack:
        result = run_bench(stack.base_url, photos, concurrency)
    report = result.report()
    report["latency"] = latency
    report["concurrency"] = concurrency
    options.run_dir.mkdir(parents=True, exist_ok=True)
    (options.run_dir / "bench.json").write_text(json.dumps(report, indent=2))
    console.print_json(data=report)
    console.print(f"written to {options.run_dir / 'bench.json'}")
    if report["wrong_answers"] or report["cache_hits_on_repeat"] != photos:
        raise typer.Exit(1)


@_command("cache-sweep")
def cache_sweep(
    scenario: Annotated[str, typer.Argument(help="scenario whose [images] to replay")] = "cache",
    photos: Annotated[int, typer.Option(min=10, help="photos replayed per radius")] = 1500,
    radii: Annotated[str, typer.Option(help="radii to sweep: FIRST:LAST:STEP")] = "0:16:2",
    sizes: Annotated[
        str, typer.Option(help="band-index sizes to benchmark, comma-separated ('' skips)")
    ] = "10000,100000,1000000",
    bench_radius: Annotated[
        int, typer.Option(min=0, max=64, help="radius of the benchmarked index")
    ] = 4,
) -> None:
    """Replay a scenario's photos through the cache at each radius (hit and false-hit ratios,
    a plot) and benchmark the near index's lookups and memory at each size."""
    from harness import cache_sweep as sweeping
    from harness.scenario import load_scenario

    first, last, step = (int(part) for part in radii.split(":"))
    found = sweeping.report(
        scenario_images=load_scenario(_scenario_path(scenario)).images,
        photos=photos,
        radii=range(first, last + 1, step),
        sizes=[int(size) for size in sizes.split(",") if size],
        bench_radius=bench_radius,
        seed=0,
        out_dir=_run_dir("cache-sweep"),
    )
    console.print("radius  hit ratio  exact  near  false hits  false-hit ratio")
    for row in found["sweep"]:
        console.print(
            f"{row['radius']:>6}  {row['hit_ratio']:>9.3f}  {row['exact_hits']:>5}"
            f"  {row['near_hits']:>4}  {row['false_hits']:>10}  {row['false_hit_ratio']:>15.4f}"
        )
    for row in found["bench"]:
        console.print(
            f"{row['entries']:>8} entries (r={row['radius']}): lookup p50 {row['lookup_p50_ms']}"
            f" ms, p95 {row['lookup_p95_ms']} ms, {row['bytes_per_entry']} B/entry"
        )
    console.print(f"plot: {found['plot']}")


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"error: {what} {pair!r} must look like KEY=VALUE")
            raise typer.Exit(2)
        out[key.strip()] = value
    return out


def _settings_overrides(pairs: list[str]) -> dict[str, object]:
    """``--set cache_enabled=false``: validated against the settings model before anything runs."""
    from pydantic import ValidationError

    values = _parse_pairs(pairs, "--set")
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        err.print(
            f"error: --set {', '.join(unknown)}: not a setting (see reference/common/settings.py)"
        )
        raise typer.Exit(2)
    try:
        checked = Settings(**{"environment": "development", **values})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"error: --set {first['loc'][0]}: {first['msg']}")
        raise typer.Exit(2) from None
    return {key: getattr(checked, key) for key in values}


def _print_summary(summary: dict[str, object], run_dir: Path) -> None:
    headline = summary.get("headline") or {}
    assert isinstance(headline, dict)
    servers = summary.get("servers") or {}
    assert isinstance(servers, dict)
    used = ", ".join(f"{kind} {mode}" for kind, mode in servers.items())
    title = f"{summary.get('run_id')} ({summary.get('target')}" + (f"; {used})" if used else ")")
    numbers = Table(title=title, show_header=False)
    for key, value in headline.items():
        numbers.add_row(str(key), str(value))
    console.print(numbers)
    gates = Table(title="gates")
    for column in ("verdict", "gate", "threshold", "observed", "samples"):
        gates.add_column(column)
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    rows = summary.get("gates") or []
    assert isinstance(rows, list)
    for row in rows:
        verdict = str(row.get("verdict"))
        gates.add_row(
            f"[{colours.get(verdict, 'white')}]{verdict}[/]",
            str(row.get("name")),
            str(row.get("threshold")),
            str(row.get("observed_text")),
            str(row.get("samples", "")),
        )
    console.print(gates)
    _print_faults(summary)
    for note in summary.get("notes") or []:  # type: ignore[union-attr]
        console.print(f"[yellow]note:[/yellow] {note}")
    verdict = str(summary.get("verdict"))
    shown = f"[{colours.get(verdict, 'white')}]{verdict}[/]"
    console.print(f"verdict: {shown}   report: {run_dir / 'report.html'}")


def _print_faults(summary: dict[str, object]) -> None:
    outcomes = summary.get("fault_outcomes") or []
    assert isinstance(outcomes, list)
    if not outcomes:
        return
    table = Table(title="faults")
    for column in ("fault", "p95 before / during / after ms", "recovery s", "lost", "failed",
                   "answered twice"):  # fmt: skip
        table.add_column(column)

    def p95(phase: dict[str, object] | None) -> str:
        value = phase.get("p95_ms") if phase else None
        return "-" if value is None else f"{value:.0f}"

    for o in outcomes:
        recovered = o.get("recovery_seconds")
        table.add_row(
            str(o.get("label")),
            f"{p95(o.get('before'))} / {p95(o.get('during'))} / {p95(o.get('after'))}",
            "never" if recovered is None else f"{recovered:.1f}",
            str(o.get("lost")),
            str(o.get("failed")),
            str(o.get("answered_twice")),
        )
    console.print(table)


@_command()
def run(
    scenario: Annotated[
        str, typer.Argument(help="a scenario name (scenarios/NAME.toml) or a path")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="base URL of a deployed stack; without it a local stack is brought up"),
    ] = None,
    processes: Annotated[
        int | None, typer.Option(min=1, help="Locust processes (default: the scenario's)")
    ] = None,
    upload_rewrite: Annotated[
        list[str],
        typer.Option(
            help="with --target: send uploads for FROM to TO, e.g. "
            "s3.fakes.svc.cluster.local:5000=127.0.0.1:30500 (kind's NodePort)"
        ),
    ] = [],  # noqa: B006
    users: Annotated[
        int | None,
        typer.Option(min=1, help="users in every closed-model stage (capacity searches)"),
    ] = None,
    reports: Annotated[Path, typer.Option(help="where runs are written")] = REPORTS,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="a setting of the local stack, e.g. cache_enabled=false"),
    ] = [],  # noqa: B006 - typer needs a list default
    worker_arg: Annotated[
        list[str],
        typer.Option(help="extra celery argument for a local worker: ai=--queues=q.ai,q.batch"),
    ] = [],  # noqa: B006
    fault: Annotated[
        list[str],
        typer.Option(
            help="inject a fault into the local stack (see harness/faults.py): "
            "drop-jobs, poison-flood, redis-leak, corrupt-cache, s3-down"
        ),
    ] = [],  # noqa: B006
    drain: Annotated[
        float, typer.Option(min=0, help="seconds unfinished jobs get to end after the load")
    ] = 60.0,
    inconclusive_ok: Annotated[
        bool, typer.Option(help="exit 0 when gates are inconclusive (too few samples)")
    ] = False,
    prometheus: Annotated[
        str | None,
        typer.Option(
            help="with --target: the cluster's Prometheus (base URL), for the gates on queues, "
            "Redis and CPU and memory by tier"
        ),
    ] = None,
    flood_broker: Annotated[
        str | None,
        typer.Option(help="with --target: publish the scenario's q.batch flood to this broker"),
    ] = None,
    servers: ServersOpt = "auto",
) -> None:
    """Run a scenario, judge its gates, write reports/<run-id>/ (exit 0 pass, 1 fail, 2 harness)."""
    from harness.run import run as run_scenario

    if (prometheus or flood_broker) and not target:
        err.print("error: --prometheus and --flood-broker go with --target URL")
        raise typer.Exit(2)
    options = _run_options(
        scenario,
        target=target,
        reports=reports,
        processes=processes,
        users=users,
        upload_rewrite=upload_rewrite,
        set_=set_,
        worker_arg=worker_arg,
        fault=fault,
        drain=drain,
        inconclusive_ok=inconclusive_ok,
        servers=servers,
    )
    options.prometheus, options.flood_broker = prometheus, flood_broker
    with _stop_on_sigterm():
        result = run_scenario(options, _progress)
    _print_summary(result.summary, result.run_dir)
    raise typer.Exit(result.exit_code)


def _run_options(
    scenario: str,
    *,
    target: str | None,
    reports: Path,
    processes: int | None,
    users: int | None = None,
    upload_rewrite: list[str],
    set_: list[str],
    worker_arg: list[str],
    fault: list[str] = [],  # noqa: B006 - never mutated
    drain: float,
    inconclusive_ok: bool = False,
    servers: str = "auto",
) -> RunOptions:
    """The command line's run options, every part checked (a bad one: one line, exit 2)."""
    from harness.faults import FAULTS
    from harness.run import RunOptions

    path = _scenario_path(scenario)
    unknown = [name for name in fault if name not in FAULTS]
    if unknown:
        err.print(f"error: unknown fault {unknown[0]!r}; choose from {', '.join(FAULTS)}")
        raise typer.Exit(2)
    if fault and target:
        err.print("error: faults are injected into a local stack; drop --target or --fault")
        raise typer.Exit(2)
    worker_args: dict[str, tuple[str, ...]] = {}
    for pair in worker_arg:
        name, value = next(iter(_parse_pairs([pair], "--worker-arg").items()))
        worker_args[name] = (*worker_args.get(name, ()), value)
    return RunOptions(
        scenario_path=path,
        target=target,
        reports_dir=reports,
        processes=processes,
        users=users,
        upload_rewrites=tuple(upload_rewrite),
        servers=mode_from(servers),
        stack_settings=_settings_overrides(set_),
        worker_args=worker_args,
        faults=tuple(fault),
        drain_seconds=drain,
        inconclusive_ok=inconclusive_ok,
    )


def _scenario_path(scenario: str) -> Path:
    """The file of a scenario name or path, checked (a bad one: the field named, exit 2)."""
    from harness.scenario import ScenarioError, find_scenario, load_scenario

    try:
        path = find_scenario(scenario)
        load_scenario(path)
    except (ScenarioError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return path


def _progress(line: str) -> None:
    if not line.startswith("{"):  # JSON lines are for machines; people get the rest
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM takes the stack down as Ctrl-C does (exit 2, see :func:`_command`)."""

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@_command()
def capacity(
    scenario: Annotated[
        str, typer.Argument(help="a scenario name (scenarios/NAME.toml) or a path")
    ],
    low: Annotated[int, typer.Option(help="a user count expected to pass")],
    high: Annotated[int, typer.Option(help="a user count expected to fail")],
    resolution: Annotated[
        int, typer.Option(help="stop when the passing and failing counts are this close")
    ] = 10,
    repeat: Annotated[
        int, typer.Option(help="runs per user count; a count passes only if all of them pass")
    ] = 1,
    gate: Annotated[
        list[str],
        typer.Option(help="judge only this gate (its name; repeatable); default: every gate"),
    ] = [],  # noqa: B006
    target: Annotated[
        str | None,
        typer.Option(help="base URL of a deployed stack; without it a local stack per run"),
    ] = None,
    processes: Annotated[
        int | None, typer.Option(min=1, help="Locust processes (default: the scenario's)")
    ] = None,
    reports: Annotated[Path, typer.Option(help="where the search folder is written")] = REPORTS,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="a setting of the local stack, e.g. cache_enabled=false"),
    ] = [],  # noqa: B006
    worker_arg: Annotated[
        list[str],
        typer.Option(help="extra celery argument for a local worker: ai=--concurrency=20"),
    ] = [],  # noqa: B006
    upload_rewrite: Annotated[
        list[str], typer.Option(help="with --target: send uploads for FROM to TO")
    ] = [],  # noqa: B006
    drain: Annotated[
        float, typer.Option(min=0, help="seconds unfinished jobs get to end after the load")
    ] = 60.0,
    servers: ServersOpt = "auto",
) -> None:
    """Find the largest user count whose gates pass, by bisection over real runs (exit 0 found,
    1 even --low fails, 2 harness)."""
    from harness import capacity as capacity_search
    from harness.run import run as run_scenario
    from harness.scenario import load_scenario

    try:
        capacity_search.check_range(low, high, resolution, repeat)
    except ValueError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options = _run_options(
        scenario,
        target=target,
        reports=reports,
        processes=processes,
        upload_rewrite=upload_rewrite,
        set_=set_,
        worker_arg=worker_arg,
        drain=drain,
        servers=servers,
    )
    loaded = load_scenario(options.scenario_path)
    known = [g.title for g in loaded.gates]
    unknown = [name for name in gate if name not in known]
    if unknown:
        err.print(f"error: {loaded.name} has no gate {unknown[0]!r}; its gates: {'; '.join(known)}")
        raise typer.Exit(2)
    folder = reports / f"capacity-{loaded.name}-{stamp}"

    def probe(users: int) -> capacity_search.Probe:
        result = run_scenario(replace(options, users=users, reports_dir=folder), _progress)
        _print_summary(result.summary, result.run_dir)
        return capacity_search.judge(result, users, gate)

    with _stop_on_sigterm():
        result = capacity_search.search(
            probe,
            low=low,
            high=high,
            resolution=resolution,
            repeat=repeat,
            gates=gate,
            progress=_progress,
            on_probe=lambda partial: capacity_search.write(partial, folder),
        )
    path = capacity_search.write(result, folder)
    # The first judged gate's observation (the scenario's headline gate), and what did not pass.
    headline = (gate or known)[0]
    table = Table(title=f"capacity search: {loaded.name}")
    for column in ("users", "verdict", headline, "gates not passed", "run"):
        table.add_column(column)
    for p in result.probes:
        observed = p.observed.get(headline)
        shown = "[green]pass[/]" if p.passed else "[red]fail[/]"
        not_passed = [f"{name} ({v})" for name, v in p.verdicts.items() if v != "pass"]
        table.add_row(
            str(p.users),
            shown,
            "-" if observed is None else f"{observed:.4g}",
            "; ".join(not_passed) or "-",
            p.run_id,
        )
    console.print(table)
    console.print(f"capacity: {result.verdict}   written {path}")
    raise typer.Exit(1 if result.largest_passing is None else 0)


@_command("kind")
def kind_run(
    scenario: Annotated[str, typer.Argument(help="scenario name or path")] = "smoke",
    name: Annotated[str, typer.Option(help="kind cluster name")] = "wastecoach",
    build: Annotated[bool, typer.Option(help="build the reference image first")] = True,
    keep: Annotated[bool, typer.Option(help="leave the cluster running afterwards")] = False,
    reports: Annotated[Path, typer.Option(help="where runs are written")] = REPORTS,
    inconclusive_ok: Annotated[
        bool, typer.Option(help="exit 0 when gates are inconclusive (server-side gauges)")
    ] = False,
) -> None:
    """Create the four-tier kind cluster, deploy the kind overlay, run a scenario against its
    gateway, keep every pod's log in the run folder, delete the cluster (unless --keep)."""
    from harness.providers.base import ProviderError
    from harness.providers.kind import KindCluster, KindOptions
    from harness.run import RunOptions
    from harness.run import run as run_scenario

    path = _scenario_path(scenario)
    cluster = KindCluster(KindOptions(name=name, build=build, keep=keep, reuse=True))
    try:
        with console.status(f"bringing kind cluster {name} up (create, build, deploy)..."):
            cluster.start()
    except ProviderError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        target = cluster.target()
        result = run_scenario(
            RunOptions(
                scenario_path=path,
                target=target.base_url,
                reports_dir=reports,
                upload_rewrites=tuple(f"{a}={b}" for a, b in target.upload_rewrites.items()),
                inconclusive_ok=inconclusive_ok,
                prometheus=target.prometheus_url,
            ),
            _progress,
        )
        console.print(f"pod logs: {cluster.collect_logs(result.run_dir / 'cluster-logs')}")
    except HarnessError as exc:
        exc.logs = cluster.collect_logs()  # the pods' logs explain a failure against them
        raise
    finally:
        cluster.stop()
    _print_summary(result.summary, result.run_dir)
    raise typer.Exit(result.exit_code)


def _load_run(run_dir: Path) -> RunData:
    from harness.report.rundata import RunData

    try:
        return RunData.load(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


@_command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder, e.g. reports/smoke-20261126T...")],
    html: Annotated[bool, typer.Option(help="write report.html again from the raw files")] = False,
) -> None:
    """Show a run's gate table and headline numbers (exit code: the run's)."""
    run_data = _load_run(run_dir)
    if html:
        from harness.report.html import write_html

        console.print(f"written {write_html(run_data)}")
    _print_summary(run_data.summary, run_dir)
    raise typer.Exit(int(run_data.summary.get("exit_code", 2)))


@_command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="the earlier run's folder")],
    candidate: Annotated[Path, typer.Argument(help="the run to judge against it")],
    max_p95_regression: Annotated[
        float, typer.Option(min=0, help="allowed relative p95 increase (0.10 = 10 %)")
    ] = 0.10,
    alpha: Annotated[float, typer.Option(min=0, max=1, help="significance level")] = 0.01,
) -> None:
    """Compare two runs: exit 1 when the candidate regressed (relative criterion and test)."""
    from harness.report.compare import Criteria, as_dicts
    from harness.report.compare import compare as compare_runs

    findings = compare_runs(
        _load_run(baseline),
        _load_run(candidate),
        Criteria(max_p95_regression=max_p95_regression, alpha=alpha),
    )
    table = Table(title=f"{baseline.name} → {candidate.name}")
    for column in ("metric", "regression", "change"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.metric, "[red]yes[/]" if finding.regression else "no", finding.note)
    console.print(table)
    (candidate / "compare.json").write_text(
        json.dumps({"baseline": str(baseline), "findings": as_dicts(findings)}, indent=2)
    )
    if any(f.regression for f in findings):
        raise typer.Exit(1)


def main() -> None:
    # The harness brings up development stacks only (a --target is reached over HTTP), and its
    # own process imports reference modules that read the settings (the Celery app that
    # publishes the batch flood): it says development explicitly, as its stacks do.
    os.environ.setdefault("WASTECOACH_ENVIRONMENT", "development")
    app()


if __name__ == "__main__":
    main()
