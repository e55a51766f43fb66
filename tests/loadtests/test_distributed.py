"""The load on Locust's master/worker runner, as on several machines: a master and a worker on
different loopback addresses, and what ends a run with exit 2 instead of a partial verdict
(too few workers, a worker on other sources, a worker lost mid-run). Against a fake gateway:
no stack is needed. The master and the workers are child processes (locust gevent-patches
whatever imports it)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gates.evaluate import percentile
from harness.report.rundata import read_events, read_requests
from harness.stack.processes import free_port
from harness.stack.waits import wait_for
from tests.loadtests.factories import (
    TinyServer,
    closed_stage,
    fake_gateway_server,
    scenario_toml,
    write,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def scenario(folder: Path, duration: str = "4s", users: int = 4) -> Path:
    text = scenario_toml(
        stages=closed_stage(duration, users, users),
        processes=1,
        mix='scan = 1\nfollow = "poll"\nthink_time = { kind = "fixed", seconds = 0.1 }',
    )
    return write(folder, text)


@pytest.fixture
def gateway() -> Iterator[TinyServer]:
    with fake_gateway_server() as server:
        yield server


def master(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtests", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker(address: str, *, root: Path = REPO) -> subprocess.Popen[bytes]:
    """``wastecoach load-worker --master ADDRESS`` from the sources under ``root``."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "load-worker", "--master", address],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def test_a_master_and_a_remote_worker_on_two_addresses_merge_exactly(
    tmp_path: Path, gateway: TinyServer
) -> None:
    """The master listens on 127.0.0.2 (the target is on 127.0.0.1); one worker is its own,
    the other connects as a worker on another machine would. Every row of both reaches the
    files once, and the percentiles of the merged files are those of each worker's own rows
    pooled: what one process recording all of them would compute."""
    address = f"127.0.0.2:{free_port('127.0.0.2')}"
    out = tmp_path / "run"
    run = master(
        "--scenario", str(scenario(tmp_path)), "--base-url", gateway.url, "--out", str(out),
        "--master-bind", address, "--processes", "1", "--expect-workers", "2",
        "--heartbeat", "0.5",
    )  # fmt: skip
    remote = worker(address)
    try:
        code, stdout, stderr = finish(run)
    finally:
        stop(remote)
    assert code == 0, stderr[-3000:]
    load = json.loads((out / "load.json").read_text())
    assert load["master"] == address and load["workers"] == 2
    events = read_events(out / "events.csv")
    requests = read_requests(out / "requests.csv")
    assert {e["process"] for e in events} == {"0", "1"}
    by_worker: dict[str, list[float]] = {}
    for worker_summary in load["processes"]:
        index = str(worker_summary["process"])
        own = [e for e in events if e["process"] == index]
        assert len(own) == worker_summary["flows_finished"] > 0
        assert sum(r["process"] == index for r in requests) == worker_summary["requests"]
        by_worker[index] = [e["end_to_end_ms"] for e in own if e["status"] == "done"]
    merged = [e["end_to_end_ms"] for e in events if e["status"] == "done"]
    pooled = by_worker["0"] + by_worker["1"]
    assert sorted(merged) == sorted(pooled)
    for pct in (50, 90, 95, 99):
        assert percentile(merged, pct) == percentile(pooled, pct)
    starts = [json.loads(x) for x in stdout.splitlines() if x.startswith('{"type": "start"')]
    assert len(starts) == 1 and starts[0]["workers"] == 2


def test_fewer_workers_than_expected_exit_2_in_one_line(
    tmp_path: Path, gateway: TinyServer
) -> None:
    address = f"127.0.0.1:{free_port()}"
    run = master(
        "--scenario", str(scenario(tmp_path)), "--base-url", gateway.url,
        "--out", str(tmp_path / "run"), "--master-bind", address, "--processes", "0",
        "--expect-workers", "1", "--expect-workers-timeout", "2",
    )  # fmt: skip
    code, _, stderr = finish(run)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"error: only 0 of 1 Locust workers connected to the master at {address} within 2 s; "
        f"start the others with wastecoach load-worker --master {address}, or expect fewer "
        "(--expect-workers)"
    )
    assert not (tmp_path / "run" / "load.json").exists()


def test_a_worker_on_other_sources_is_refused(tmp_path: Path, gateway: TinyServer) -> None:
    """A worker installed from another commit (one comment differs) never runs the load."""
    other = tmp_path / "other"
    for package in ("harness", "loadtests", "reference"):
        shutil.copytree(
            REPO / package, other / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    plan = other / "loadtests" / "plan.py"
    plan.write_text(plan.read_text() + "\n# another commit\n")
    address = f"127.0.0.1:{free_port()}"
    run = master(
        "--scenario", str(scenario(tmp_path)), "--base-url", gateway.url,
        "--out", str(tmp_path / "run"), "--master-bind", address, "--processes", "0",
        "--expect-workers", "1",
    )  # fmt: skip
    remote = worker(address, root=other)
    try:
        code, _, stderr = finish(run)
    finally:
        stop(remote)
    assert code == 2
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: Locust worker 0 runs other sources than the master"), line
    assert "install the same commit of wastecoach on every load machine" in line
    assert not (tmp_path / "run" / "load.json").exists()
    assert not [e for e in rows(tmp_path / "run" / "events.csv")]  # no load ran


def test_a_worker_lost_mid_run_ends_it_without_a_verdict(
    tmp_path: Path, gateway: TinyServer
) -> None:
    address = f"127.0.0.1:{free_port()}"
    out = tmp_path / "run"
    run = master(
        "--scenario", str(scenario(tmp_path, duration="60s")), "--base-url", gateway.url,
        "--out", str(out), "--master-bind", address, "--processes", "0",
        "--expect-workers", "1", "--heartbeat", "0.5",
    )  # fmt: skip
    remote = worker(address)
    try:
        # the load is on once the master has written flows
        wait_for(
            lambda: len(rows(out / "events.csv")) > 3 if (out / "events.csv").exists() else False,
            timeout=60,
            interval=0.2,
            describe="the first flows",
        )
        remote.kill()
        code, _, stderr = finish(run, timeout=60)
    finally:
        stop(remote)
        if run.poll() is None:
            run.kill()
    assert code == 2
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: Locust worker 0 (") and "in the middle of the run" in line, line
    assert "the run has no verdict" in line
    assert not (out / "load.json").exists()
