"""The harness's side of the load (harness.run.load): the master and the local workers as its
children, and a master that cannot run the load ending the run as a harness failure (exit 2)
with the master's one line, never with a verdict. Against a fake gateway: no stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.collect.series import Series
from harness.errors import HarnessError
from harness.run.load import run_load
from harness.run.watch import LoadWatch
from harness.scenario import load_scenario
from loadtests.protocol import LoadPlan, LoadSettings
from tests.loadtests.factories import (
    TinyServer,
    closed_stage,
    fake_gateway_server,
    scenario_toml,
)


@pytest.fixture
def gateway() -> Iterator[TinyServer]:
    with fake_gateway_server() as server:
        yield server


def _run_load(tmp_path: Path, url: str, settings: LoadSettings) -> list[float]:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(scenario_toml(stages=closed_stage("3s", 2, 2), processes=1))
    watch = LoadWatch(
        stack=None, gates=[], warmup=0.0, series=Series(), events_path=tmp_path / "events.csv"
    )
    starts: list[float] = []
    run_load(
        settings,
        LoadPlan.of(load_scenario(scenario), scenario, url, drain_timeout=5),
        run_dir=tmp_path,
        watch=watch,
        on_start=starts.append,
        progress=lambda line: None,
    )
    return starts


@pytest.mark.slow
def test_two_local_workers_run_the_load_and_start_it_once(
    tmp_path: Path, gateway: TinyServer
) -> None:
    starts = _run_load(tmp_path, gateway.url, LoadSettings(processes=2))
    assert len(starts) == 1
    assert (tmp_path / "logs" / "locust-worker-1.log").exists()
    assert "loadtests:" in (tmp_path / "logs" / "locust.log").read_text()


@pytest.mark.slow
def test_too_few_workers_is_a_harness_failure_with_the_masters_line(
    tmp_path: Path, gateway: TinyServer
) -> None:
    settings = LoadSettings(processes=1, expect_workers=2, expect_workers_timeout=3)
    with pytest.raises(HarnessError) as caught:
        _run_load(tmp_path, gateway.url, settings)
    message = caught.value.message
    assert message.startswith("the load generator exited with code 2 (only 1 of 2 Locust ")
    assert "within 3 s" in message and "load-worker --master 127.0.0.1:" in message
    assert not (tmp_path / "load.json").exists()


def test_fewer_expected_workers_than_local_ones_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    done = CliRunner().invoke(
        app,
        ["run", "smoke", "--processes", "2", "--expect-workers", "1", "--reports", str(tmp_path)],
    )
    assert done.exit_code == 2
    assert "--expect-workers 1 is fewer than the 2 local workers" in done.output
    assert not list(tmp_path.iterdir())  # no run folder: nothing started
