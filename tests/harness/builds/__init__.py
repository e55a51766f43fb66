"""Faulty builds of the reference, for the breaking tests of the release gate.

A build is a folder here holding a ``sitecustomize.py`` that patches one reference module as it
is imported (:func:`patch_on_import.after_import`). :func:`environment` gives the variables that
make every child process of a stack (services, workers, the load generator) run that build: they
inherit ``PYTHONPATH``, and Python imports ``sitecustomize`` at start-up. The reference itself
carries no fault switch, so what the gate sees is what a regressed release would do.

Use it with pytest's ``monkeypatch``::

    for key, value in builds.environment("slow_jobs").items():
        monkeypatch.setenv(key, value)
"""

from __future__ import annotations

import os
from pathlib import Path

BUILDS = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.name for p in BUILDS.iterdir() if (p / "sitecustomize.py").is_file())


def environment(name: str) -> dict[str, str]:
    """``PYTHONPATH`` that loads build ``name`` (and the import hook) in child processes."""
    folder = BUILDS / name
    if not (folder / "sitecustomize.py").is_file():
        raise ValueError(f"no faulty build {name!r}; known: {', '.join(names())}")
    paths = [str(folder), str(BUILDS), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
