"""The load generator's CPU per action (``loadtests.bench``), run against a stack from the
harness: in a child process of its own, since it imports locust (gevent-patches its process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from loadtests.launch import worker_env

# Generous: photos, polls and flows of two transports take about a minute on a quiet machine.
TIMEOUT_SECONDS = 900


def measure(base_url: str, run_dir: Path, *, seconds: float, users: int = 20) -> dict[str, Any]:
    """``python -m loadtests.bench`` against ``base_url``; its JSON (also ``loadgen.json``)."""
    out = run_dir / "loadgen.json"
    log = run_dir / "logs" / "loadgen-bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "loadtests.bench", "--base-url", base_url, "--out", str(out)]
    argv += ["--seconds", str(seconds), "--users", str(users)]
    with log.open("w") as sink:
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, **worker_env()},
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"the load generator's benchmark ran past {TIMEOUT_SECONDS} s", logs=log
            ) from None
    if done.returncode != 0:
        raise HarnessError(
            f"the load generator's benchmark failed (exit {done.returncode})",
            detail=log.read_text()[-4000:],
            logs=log,
        )
    return json.loads(out.read_text())
