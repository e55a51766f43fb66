"""``load-worker``: a Locust worker for a run whose master is on another machine."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from harness.cli.common import command
from loadtests.protocol import MASTER_ENV


@command("load-worker")
def load_worker(
    master: Annotated[
        str,
        typer.Option(envvar=MASTER_ENV, help="the Locust master's HOST:PORT (run --master-bind)"),
    ],
) -> None:
    """A Locust worker for a run on another machine (same commit as the master's)."""
    # Locust gevent-patches the process that imports it: the worker gets a fresh interpreter.
    os.execv(sys.executable, [sys.executable, "-m", "loadtests.worker", "--master", master])
