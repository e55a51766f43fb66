"""The options several commands take, defined once as ``Annotated`` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

LatencyOpt = Annotated[
    str,
    typer.Option(help="Mock OpenAI latency: uniform:LOW:HIGH, fixed:SECONDS or lognormal:MU:SIGMA"),
]
ServersOpt = Annotated[
    str,
    typer.Option(
        "--servers",
        envvar="WASTECOACH_SERVERS",
        help="PostgreSQL, Redis and RabbitMQ: auto (running if they answer, else ephemeral "
        "from installed binaries, else containers), running, ephemeral or container",
    ),
]
ScenarioArg = Annotated[str, typer.Argument(help="a scenario name (scenarios/NAME.toml) or a path")]
# The load on Locust's master/worker runner (``run``, ``capacity``; ``kind`` takes the last two).
ProcessesOpt = Annotated[
    int | None,
    typer.Option(min=0, help="local Locust workers under the master (default: the scenario's)"),
]
MasterBindOpt = Annotated[
    str | None,
    typer.Option(help="HOST:PORT the Locust master listens on, for load-worker elsewhere"),
]
ExpectWorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Locust workers to wait for before the load (default: --processes)"),
]
ExpectWorkersTimeoutOpt = Annotated[
    float, typer.Option(min=1, help="seconds to wait for the Locust workers (then exit 2)")
]
UiOpt = Annotated[bool, typer.Option(help="Locust's web UI on 127.0.0.1:8089")]
LoadTargetOpt = Annotated[
    str | None,
    typer.Option(
        help="with --target: the base URL the Locust workers use when they reach the stack by "
        "another address than this machine (workers in a cluster: its in-cluster gateway)"
    ),
]
RunsDirOpt = Annotated[Path, typer.Option(help="where runs are written")]
SettingOpt = Annotated[
    list[str],
    typer.Option("--set", help="a setting of the local stack, e.g. cache_enabled=false"),
]
GatewayProcessesOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="local stack: processes serving the gateway's port "
        "(default: the seed's replicas, reference/common/tiers.py)",
    ),
]
DrainOpt = Annotated[
    float, typer.Option(min=0, help="seconds unfinished jobs get to end after the load")
]
