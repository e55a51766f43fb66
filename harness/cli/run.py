"""``run``: a scenario against a local stack or a ``--target``, judged by its gates."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli.common import REPORTS, command, err, progress, stop_on_sigterm
from harness.cli.options import (
    DrainOpt,
    ExpectWorkersOpt,
    ExpectWorkersTimeoutOpt,
    GatewayProcessesOpt,
    LoadTargetOpt,
    MasterBindOpt,
    ProcessesOpt,
    RunsDirOpt,
    ScenarioArg,
    ServersOpt,
    SettingOpt,
    UiOpt,
)
from harness.cli.run_options import run_options
from harness.cli.summary import print_summary


@command()
def run(
    scenario: ScenarioArg,
    target: Annotated[
        str | None,
        typer.Option(help="base URL of a deployed stack; without it a local stack is brought up"),
    ] = None,
    processes: ProcessesOpt = None,
    master_bind: MasterBindOpt = None,
    expect_workers: ExpectWorkersOpt = None,
    expect_workers_timeout: ExpectWorkersTimeoutOpt = 120.0,
    ui: UiOpt = False,
    load_target: LoadTargetOpt = None,
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
    reports: RunsDirOpt = REPORTS,
    set_: SettingOpt = [],  # noqa: B006 - typer needs a list default
    worker_arg: Annotated[
        list[str],
        typer.Option(help="extra celery argument for a local worker: ai=--queues=q.ai,q.batch"),
    ] = [],  # noqa: B006
    fault: Annotated[
        list[str],
        typer.Option(
            help="inject a fault into the local stack (see harness/run/faults.py): "
            "drop-jobs, poison-flood, redis-leak, corrupt-cache, s3-down"
        ),
    ] = [],  # noqa: B006
    drain: DrainOpt = 60.0,
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
    gateway_processes: GatewayProcessesOpt = None,
) -> None:
    """Run a scenario, judge its gates, write reports/<run-id>/ (exit 0 pass, 1 fail, 2 harness)."""
    from harness.run.runner import run as run_scenario

    if (prometheus or flood_broker) and not target:
        err.print("error: --prometheus and --flood-broker go with --target URL")
        raise typer.Exit(2)
    options = run_options(
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
        gateway_processes=gateway_processes,
        master_bind=master_bind,
        expect_workers=expect_workers,
        expect_workers_timeout=expect_workers_timeout,
        ui=ui,
        load_target=load_target,
    )
    options.prometheus, options.flood_broker = prometheus, flood_broker
    with stop_on_sigterm():
        result = run_scenario(options, progress)
    print_summary(result.summary, result.run_dir)
    raise typer.Exit(result.exit_code)
