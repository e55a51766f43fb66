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
ProcessesOpt = Annotated[
    int | None, typer.Option(min=1, help="Locust processes (default: the scenario's)")
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
