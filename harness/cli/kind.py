"""``kind``: a scenario against the reference deployed on a four-tier kind cluster."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from harness.cli.common import REPORTS, command, console, err, progress
from harness.cli.options import ExpectWorkersTimeoutOpt, RunsDirOpt, UiOpt
from harness.cli.run_options import scenario_path
from harness.cli.summary import print_summary
from harness.errors import HarnessError


@command("kind")
def kind_run(
    scenario: Annotated[str, typer.Argument(help="scenario name or path")] = "smoke",
    name: Annotated[str, typer.Option(help="kind cluster name")] = "wastecoach",
    build: Annotated[bool, typer.Option(help="build the reference image first")] = True,
    keep: Annotated[bool, typer.Option(help="leave the cluster running afterwards")] = False,
    reports: RunsDirOpt = REPORTS,
    inconclusive_ok: Annotated[
        bool, typer.Option(help="exit 0 when gates are inconclusive (server-side gauges)")
    ] = False,
    load_workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Locust workers inside the cluster (on the control node) instead of on this "
            "machine; they send the app's requests to the in-cluster gateway",
        ),
    ] = 0,
    master_host: Annotated[
        str | None,
        typer.Option(
            help="with --load-workers: the address of this machine the kind nodes reach, where "
            "the Locust master listens (default: the kind Docker network's gateway)"
        ),
    ] = None,
    expect_workers_timeout: ExpectWorkersTimeoutOpt = 120.0,
    ui: UiOpt = False,
) -> None:
    """Create the four-tier kind cluster, deploy the kind overlay, run a scenario against its
    gateway, keep every pod's log in the run folder, delete the cluster (unless --keep)."""
    from harness.providers.base import ProviderError
    from harness.providers.kind import (
        IN_CLUSTER_GATEWAY,
        LOAD_MASTER_PORT,
        KindCluster,
        KindOptions,
    )
    from harness.run.runner import RunOptions
    from harness.run.runner import run as run_scenario

    path = scenario_path(scenario)
    if master_host is not None and not load_workers:
        err.print("error: --master-host goes with --load-workers N")
        raise typer.Exit(2)
    cluster = KindCluster(KindOptions(name=name, build=build, keep=keep, reuse=True))
    try:
        with console.status(f"bringing kind cluster {name} up (create, build, deploy)..."):
            cluster.start()
    except ProviderError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        target = cluster.target()
        options = RunOptions(
            scenario_path=path,
            target=target.base_url,
            reports_dir=reports,
            upload_rewrites=tuple(f"{a}={b}" for a, b in target.upload_rewrites.items()),
            inconclusive_ok=inconclusive_ok,
            prometheus=target.prometheus_url,
            expect_workers_timeout=expect_workers_timeout,
            ui=ui,
        )
        workers: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if load_workers:
            # The workers reach the gateway and moto by their in-cluster names (as the
            # pre-signed URLs say), and the master on this machine's address on the kind network.
            master = f"{master_host or cluster.host_address()}:{LOAD_MASTER_PORT}"
            options.processes, options.expect_workers = 0, load_workers
            options.master_bind, options.load_target = master, IN_CLUSTER_GATEWAY
            options.upload_rewrites = ()
            workers = cluster.load_workers(load_workers, master=master)
            console.print(f"{load_workers} Locust workers in the cluster, master on {master}")
        with workers:
            result = run_scenario(options, progress)
        console.print(f"pod logs: {cluster.collect_logs(result.run_dir / 'cluster-logs')}")
    except ProviderError as exc:  # kubectl or docker failed on the way (scaling the workers)
        raise HarnessError(exc.message, detail=exc.details, logs=cluster.collect_logs()) from None
    except HarnessError as exc:
        exc.logs = cluster.collect_logs()  # the pods' logs explain a failure against them
        raise
    finally:
        cluster.stop()
    print_summary(result.summary, result.run_dir)
    raise typer.Exit(result.exit_code)
