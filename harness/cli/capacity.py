"""``capacity``: the largest user count whose gates pass, by bisection over real runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.common import REPORTS, command, console, err, progress, stop_on_sigterm
from harness.cli.options import (
    DrainOpt,
    ExpectWorkersOpt,
    ExpectWorkersTimeoutOpt,
    GatewayProcessesOpt,
    LoadTargetOpt,
    MasterBindOpt,
    ProcessesOpt,
    ScenarioArg,
    ServersOpt,
    SettingOpt,
    UiOpt,
)
from harness.cli.run_options import run_options
from harness.cli.summary import print_summary


@command()
def capacity(
    scenario: ScenarioArg,
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
    processes: ProcessesOpt = None,
    master_bind: MasterBindOpt = None,
    expect_workers: ExpectWorkersOpt = None,
    expect_workers_timeout: ExpectWorkersTimeoutOpt = 120.0,
    ui: UiOpt = False,
    load_target: LoadTargetOpt = None,
    reports: Annotated[Path, typer.Option(help="where the search folder is written")] = REPORTS,
    set_: SettingOpt = [],  # noqa: B006
    worker_arg: Annotated[
        list[str],
        typer.Option(help="extra celery argument for a local worker: ai=--concurrency=20"),
    ] = [],  # noqa: B006
    upload_rewrite: Annotated[
        list[str], typer.Option(help="with --target: send uploads for FROM to TO")
    ] = [],  # noqa: B006
    drain: DrainOpt = 60.0,
    servers: ServersOpt = "auto",
    gateway_processes: GatewayProcessesOpt = None,
) -> None:
    """Find the largest user count whose gates pass, by bisection over real runs (exit 0 found,
    1 even --low fails, 2 harness)."""
    from harness.run import capacity as capacity_search
    from harness.run.runner import run as run_scenario
    from harness.scenario import load_scenario

    try:
        capacity_search.check_range(low, high, resolution, repeat)
    except ValueError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options = run_options(
        scenario,
        target=target,
        reports=reports,
        processes=processes,
        upload_rewrite=upload_rewrite,
        set_=set_,
        worker_arg=worker_arg,
        drain=drain,
        servers=servers,
        gateway_processes=gateway_processes,
        master_bind=master_bind,
        expect_workers=expect_workers,
        expect_workers_timeout=expect_workers_timeout,
        ui=ui,
        load_target=load_target,
    )
    loaded = load_scenario(options.scenario_path)
    known = [g.title for g in loaded.gates]
    unknown = [name for name in gate if name not in known]
    if unknown:
        err.print(f"error: {loaded.name} has no gate {unknown[0]!r}; its gates: {'; '.join(known)}")
        raise typer.Exit(2)
    folder = reports / f"capacity-{loaded.name}-{stamp}"

    def probe(users: int) -> capacity_search.Probe:
        result = run_scenario(replace(options, users=users, reports_dir=folder), progress)
        print_summary(result.summary, result.run_dir)
        return capacity_search.judge(result, users, gate)

    with stop_on_sigterm():
        result = capacity_search.search(
            probe,
            low=low,
            high=high,
            resolution=resolution,
            repeat=repeat,
            gates=gate,
            progress=progress,
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
