"""``cache-sweep``: scenarios' photos through the real cache for each scheme and radius over
several seeds, and the near index's lookup time and memory at each size
(harness/bench/cache_sweep.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli.common import command, console, err
from harness.cli.run_options import scenario_path
from harness.cli.stack import run_dir


def _numbers(text: str, name: str) -> range:
    try:
        first, last, step = (int(part) for part in text.split(":"))
        return range(first, last + 1, step)
    except ValueError:
        err.print(f"[red]error:[/red] --{name} is FIRST:LAST:STEP, got {text!r}")
        raise typer.Exit(2) from None


@command("cache-sweep")
def cache_sweep(
    scenarios: Annotated[
        str, typer.Argument(help="scenarios whose [images] to replay, comma-separated")
    ] = "cache,peak,capacity,smoke",
    photos: Annotated[
        int, typer.Option(min=10, help="photos replayed per workload and seed")
    ] = 1500,
    seeds: Annotated[str, typer.Option(help="photo seeds: FIRST:LAST:STEP")] = "1:4:1",
    radii: Annotated[str, typer.Option(help="radii to sweep: FIRST:LAST:STEP")] = "0:12:2",
    colour: Annotated[
        str | None,
        typer.Option(
            help="schemes: colour thresholds, 'off' for the pHash alone, comma-separated"
            " (default: off and the setting's)"
        ),
    ] = None,
    sizes: Annotated[
        str, typer.Option(help="band-index sizes to benchmark, comma-separated ('' skips)")
    ] = "10000,100000,1000000",
    bench_radius: Annotated[
        int | None,
        typer.Option(min=0, max=64, help="radius of the benchmarked index (default: the setting)"),
    ] = None,
) -> None:
    """Replay scenarios' photos through the cache for each scheme and radius at several seeds
    (hit and false-hit ratios, pooled and at the worst seed, the colour margin; a plot) and
    benchmark the near index's lookups and memory at each size."""
    from harness.bench import cache_sweep as sweeping
    from harness.scenario import load_scenario
    from reference.common.settings import Settings

    if colour is None:
        colour = f"off,{Settings(_env_file=None).cache_near_colour_distance:g}"  # type: ignore[call-arg]
    try:
        schemes = [sweeping.Scheme.parse(part) for part in colour.split(",")]
    except ValueError as exc:
        err.print(f"[red]error:[/red] --colour: {exc}")
        raise typer.Exit(2) from None
    # Scenarios with the same [images] and Locust processes upload the same photos: one
    # workload, named after all of them.
    shared: dict[tuple[str, int], list[str]] = {}
    loaded = {}
    for name in (part.strip() for part in scenarios.split(",") if part.strip()):
        scenario = load_scenario(scenario_path(name))
        key = (scenario.images.model_dump_json(), scenario.load.locust_processes)
        shared.setdefault(key, []).append(name)
        loaded[key] = scenario
    workloads = [
        sweeping.Workload("=".join(names), loaded[key].images, key[1], seed)
        for key, names in shared.items()
        for seed in _numbers(seeds, "seeds")
    ]
    found = sweeping.report(
        workloads=workloads,
        photos=photos,
        schemes=schemes,
        radii=_numbers(radii, "radii"),
        sizes=[int(size) for size in sizes.split(",") if size],
        bench_radius=bench_radius,
        out_dir=run_dir("cache-sweep"),
        progress=console.print,
    )
    console.print(
        "scheme              radius  workload        hit ratio  worst (seed)  exact   near"
        "  false  false-hit ratio  worst (seed)  other photo  colour margin",
        soft_wrap=True,
    )
    for row in found["summary"]:
        margin = "-" if row["colour_margin"] is None else f"{row['colour_margin']:.1f}"
        console.print(
            f"{row['scheme']:<18}  {row['radius']:>6}  {row['workload']:<14}"
            f"  {row['hit_ratio']:>9.3f}  {row['worst_hit_ratio']:>6.3f}"
            f" ({row['worst_hit_seed']:>3})  {row['exact_hits']:>5}  {row['near_hits']:>5}"
            f"  {row['false_hits']:>5}  {row['false_hit_ratio']:>15.4f}"
            f"  {row['worst_false_hit_ratio']:>6.4f} ({row['worst_false_seed']:>3})"
            f"  {row['other_photo_hits']:>11}  {margin:>13}",
            soft_wrap=True,
        )
    for row in found["bench"]:
        console.print(
            f"{row['entries']:>8} entries (r={row['radius']}): lookup p50 {row['lookup_p50_ms']}"
            f" ms, p95 {row['lookup_p95_ms']} ms, {row['bytes_per_entry']} B/entry"
        )
    console.print(f"plot: {found['plot']}")
