"""``up`` and ``demo``: the reference stack on the run's servers, kept up until Ctrl-C or
driven through the app's flow once; :func:`local_stack` is also what ``bench`` stands on."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.common import REPORTS, command, console, err
from harness.cli.options import GatewayProcessesOpt, LatencyOpt, ServersOpt
from harness.errors import HarnessError
from harness.stack.local import SEED_LOCATION_POINTS, LocalStack, StackOptions
from harness.stack.servers import RunServers, mode_from


def run_dir(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return REPORTS / f"{kind}-{stamp}"


def stack_options(kind: str, latency: str, **overrides: object) -> StackOptions:
    fields: dict[str, object] = {"workers": ("ai",), **overrides}
    return StackOptions(
        run_dir=run_dir(kind),
        openai_args=("--latency", latency),
        **fields,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def local_stack(options: StackOptions, servers: str) -> Iterator[LocalStack]:
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


@command()
def up(
    latency: LatencyOpt = "uniform:2:5",
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="the gateway's port (default: a free one)")
    ] = None,
    servers: ServersOpt = "auto",
    gateway_processes: GatewayProcessesOpt = None,
) -> None:
    """Bring up the stack the mobile app needs (every worker at the seed's replicas, beat, the
    collection points), print its URLs and its health, stop on Ctrl-C."""
    from reference.common import topology

    options = stack_options(
        "up",
        latency,
        workers=tuple(w.name for w in topology.WORKERS),
        worker_replicas={w.name: w.replicas for w in topology.WORKERS},
        beat=True,
        location_points=SEED_LOCATION_POINTS,
        gateway_port=port,
        **({"gateway_processes": gateway_processes} if gateway_processes else {}),
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with local_stack(options, servers) as stack:
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


@command()
def demo(
    latency: LatencyOpt = "uniform:2:5",
    item: Annotated[str, typer.Option(help="catalog item to photograph")] = "water_bottle",
    servers: ServersOpt = "auto",
) -> None:
    """Analyse a sample photo through the whole flow twice (a cache miss, then a hit)."""
    from harness.app.auth_client import LoginError, dev_login
    from harness.app.client import FlowError, WasteClient
    from harness.mocks import catalog

    try:
        photo_item = catalog.get(item)
    except KeyError:
        err.print(
            f"error: no catalog item {item!r}; one of: {', '.join(i.key for i in catalog.ITEMS)}"
        )
        raise typer.Exit(2) from None
    photo = catalog.render(photo_item, seed=int(time.time()))  # a fresh photo: first is a miss
    with local_stack(stack_options("demo", latency), servers) as stack:
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
