"""``bench``: the image path's processing time for misses and hits, the stack's overhead, the
status hot path against a bare FastAPI + Redis GET, and the load generator's CPU per action."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from harness.cli.common import command, console
from harness.cli.options import LatencyOpt, ServersOpt
from harness.cli.stack import local_stack, stack_options


@command()
def bench(
    photos: Annotated[int, typer.Option(min=1, help="distinct photos (each run twice)")] = 30,
    concurrency: Annotated[int, typer.Option(min=1, help="flows in flight")] = 3,
    latency: LatencyOpt = "uniform:2:5",
    servers: ServersOpt = "auto",
    status_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="seconds of status polls against the gateway and as long against a bare "
            "FastAPI + Redis GET served alike, in turns of 2.5 s (0: skip)",
        ),
    ] = 20.0,
    status_connections: Annotated[
        int, typer.Option(min=1, help="keep-alive connections polling status at once")
    ] = 64,
    overhead_users: Annotated[
        str,
        typer.Option(
            help="the stack's overhead with this many users scanning at once, each level in "
            "turn (comma-separated; empty: skip)",
        ),
    ] = "3,100,500",
    loadgen_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="seconds of status polls per HTTP transport in the load generator's CPU "
            "benchmark (CPU ms per poll, per scan flow, per photo; 0: skip)",
        ),
    ] = 10.0,
) -> None:
    """Benchmark the image path (processing time for misses and hits, stack overhead, and the
    overhead with many users scanning at once), the status hot path (requests per second
    against a bare FastAPI + Redis GET, CPU per request) and the load generator (its CPU per
    status poll, scan flow and photo, per transport)."""
    from harness.bench import loadgen
    from harness.bench.images import overhead_at, run_bench
    from harness.bench.status import compare

    levels = _levels(overhead_users)
    options = stack_options("bench", latency)
    with local_stack(options, servers) as stack:
        result = run_bench(stack.base_url, photos, concurrency)
        # Photos of their own at each level (misses, not the repeats of the first part).
        overhead = [
            overhead_at(stack.base_url, users, seed=photos + sum(levels[:n]))
            for n, users in enumerate(levels)
        ]
        status = compare(stack, status_seconds, status_connections) if status_seconds else None
        generator = (
            loadgen.measure(stack.base_url, options.run_dir, seconds=loadgen_seconds)
            if loadgen_seconds
            else None
        )
    report = result.report()
    if overhead:
        report["stack_overhead_by_users"] = overhead
    if status is not None:
        report["status_throughput"] = status
    if generator is not None:
        report["load_generator"] = generator
    report["latency"] = latency
    report["concurrency"] = concurrency
    options.run_dir.mkdir(parents=True, exist_ok=True)
    (options.run_dir / "bench.json").write_text(json.dumps(report, indent=2))
    console.print_json(data=report)
    console.print(f"written to {options.run_dir / 'bench.json'}")
    unfinished = any(level["not_done"] for level in overhead)
    if report["wrong_answers"] or report["cache_hits_on_repeat"] != photos or unfinished:
        raise typer.Exit(1)


def _levels(raw: str) -> list[int]:
    try:
        levels = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        levels = [0]
    if any(level < 1 for level in levels):
        raise typer.BadParameter(f"{raw!r}: give user counts of 1 or more, comma-separated")
    return levels
