"""``kind``: a scenario against the reference deployed on a four-tier kind cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli.common import REPORTS, command, console, err, progress
from harness.cli.options import RunsDirOpt
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
) -> None:
    """Create the four-tier kind cluster, deploy the kind overlay, run a scenario against its
    gateway, keep every pod's log in the run folder, delete the cluster (unless --keep)."""
    from harness.providers.base import ProviderError
    from harness.providers.kind import KindCluster, KindOptions
    from harness.run import RunOptions
    from harness.run import run as run_scenario

    path = scenario_path(scenario)
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
            progress,
        )
        console.print(f"pod logs: {cluster.collect_logs(result.run_dir / 'cluster-logs')}")
    except HarnessError as exc:
        exc.logs = cluster.collect_logs()  # the pods' logs explain a failure against them
        raise
    finally:
        cluster.stop()
    print_summary(result.summary, result.run_dir)
    raise typer.Exit(result.exit_code)
