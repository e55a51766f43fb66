"""``cache-sweep``: a scenario's photos through the real cache at each radius, and the near
index's lookup time and memory at each size (harness/cache_sweep.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli.common import command, console
from harness.cli.run_options import scenario_path
from harness.cli.stack import run_dir


@command("cache-sweep")
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
        scenario_images=load_scenario(scenario_path(scenario)).images,
        photos=photos,
        radii=range(first, last + 1, step),
        sizes=[int(size) for size in sizes.split(",") if size],
        bench_radius=bench_radius,
        seed=0,
        out_dir=run_dir("cache-sweep"),
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
