"""``bench``: the image path's processing time for misses and hits, and the stack's overhead."""

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
) -> None:
    """Benchmark the image path: processing time for misses and hits, and stack overhead."""
    from harness.bench import run_bench

    options = stack_options("bench", latency)
    with local_stack(options, servers) as stack:
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
