"""The ``wastecoach`` command line (its help: :data:`harness.cli.common.HELP`), one module per
command group: ``stack`` (up, demo), ``bench``, ``cache`` (cache-sweep), ``run``, ``capacity``,
``kind``, ``reports`` (report, compare), ``load`` (load-worker); ``common`` holds the app and the
failure wrapper,
``options`` the options several commands share, ``run_options`` their checking, ``summary`` a
run's tables."""

from __future__ import annotations

import os

# Importing a command module registers its commands, in the order ``--help`` lists them.
# isort: off
from harness.cli import stack, bench, cache, run, capacity, kind, reports, load  # noqa: F401

# isort: on
from harness.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    # The harness brings up development stacks only (a --target is reached over HTTP), and its
    # own process imports reference modules that read the settings (the Celery app that
    # publishes the batch flood): it says development explicitly, as its stacks do.
    os.environ.setdefault("WASTECOACH_ENVIRONMENT", "development")
    app()
