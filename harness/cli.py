"""``wastecoach``: bring the reference stack up, run the demo flow, benchmark it.

Exit codes: 0 success, 1 the system under test misbehaved (wrong or missing answer),
2 the harness itself could not run (a server unreachable, the stack failed to start).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.sandbox import ServerUnreachable, ServerUrls
from harness.stack import LocalStack, StackError, StackOptions
from reference.common.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True)

REPORTS = Path("reports")
LatencyOpt = Annotated[
    str,
    typer.Option(help="Mock OpenAI latency: uniform:LOW:HIGH, fixed:SECONDS or lognormal:MU:SIGMA"),
]


def _run_dir(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return REPORTS / f"{kind}-{stamp}"


def _options(kind: str, latency: str, workers: tuple[str, ...] = ("ai",)) -> StackOptions:
    return StackOptions(
        servers=ServerUrls.from_settings(Settings()),
        run_dir=_run_dir(kind),
        workers=workers,
        openai_args=("--latency", latency),
    )


def _start(options: StackOptions) -> LocalStack:
    stack = LocalStack(options)
    try:
        with console.status("bringing the stack up..."):
            stack.start()
    except ServerUnreachable as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except StackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return stack


def _print_urls(stack: LocalStack) -> None:
    table = Table(title="reference stack", show_header=False)
    for name, url in stack.urls().items():
        table.add_row(name, url)
    console.print(table)
    console.print(f"started in {sum(stack.startup_seconds.values()):.1f}s {stack.startup_seconds}")


@app.command()
def up(latency: LatencyOpt = "uniform:2:5") -> None:
    """Bring the stack up against the running servers, print its URLs, stop on Ctrl-C."""
    stack = _start(_options("up", latency))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        _print_urls(stack)
        console.print("press Ctrl-C to stop")
        while not stopping.is_set():
            dead = [n for n, p in stack.processes.items() if not p.alive()]
            if dead:
                err.print(
                    f"[red]error:[/red] {', '.join(dead)} exited; logs in {stack.urls()['logs']}"
                )
                raise typer.Exit(2)
            stopping.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("taking the stack down..."):
            stack.stop()
    console.print("stack stopped, sandbox removed")


@app.command()
def demo(
    latency: LatencyOpt = "uniform:2:5",
    item: Annotated[str, typer.Option(help="catalog item to photograph")] = "water_bottle",
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
    stack = _start(_options("demo", latency))
    try:
        _print_urls(stack)
        with WasteClient(stack.base_url, token=dev_login(stack.base_url)) as client:
            flows = [client.analyze_photo(photo, follow="poll") for _ in range(2)]
    except (FlowError, LoginError, TimeoutError) as exc:
        err.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        stack.stop()
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


@app.command()
def bench(
    photos: Annotated[int, typer.Option(min=1, help="distinct photos (each run twice)")] = 30,
    concurrency: Annotated[int, typer.Option(min=1, help="flows in flight")] = 3,
    latency: LatencyOpt = "uniform:2:5",
) -> None:
    """Benchmark the image path: processing time for misses and hits, and stack overhead."""
    from harness.bench import run_bench

    options = _options("bench", latency)
    stack = _start(options)
    try:
        result = run_bench(stack.base_url, photos, concurrency)
    finally:
        stack.stop()
    report = result.report()
    report["latency"] = latency
    report["concurrency"] = concurrency
    options.run_dir.mkdir(parents=True, exist_ok=True)
    (options.run_dir / "bench.json").write_text(json.dumps(report, indent=2))
    console.print_json(data=report)
    console.print(f"written to {options.run_dir / 'bench.json'}")
    if report["wrong_answers"] or report["cache_hits_on_repeat"] != photos:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
