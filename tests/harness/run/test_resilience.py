"""Faults on the load's timeline, on real runs: a time-scaled resilience run (a worker killed
mid-job, the broker restarted) keeps every job and recovers, and a worker that acknowledges
before finishing loses jobs under the same kill, which the lost-jobs gate sees. Faults the run
cannot carry out are refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.gates.evaluate import Verdict
from harness.run.runner import HarnessError, RunOptions, RunResult, run
from harness.stack.sandbox import ServerUrls
from tests.harness import builds

SCENARIO = """
name = "resilience-ci"
description = "Time-scaled resilience: a worker kill and a broker restart under steady load"
seed = 5

[load]
time_scale = 0.5
warmup = "10s"
locust_processes = 1

[[load.stages]]
duration = "{seconds}s"
users = 5
spawn_rate = 5

[mix]
scan = 1
think_time = {{ kind = "uniform", low = 0.2, high = 0.6 }}

[images]
items = 5
repeat_probability = {repeat}
variants = {{ identical = 1.0 }}
size = [160, 120]

[fakes.openai]
latency = {{ kind = "uniform", low = {low}, high = {high} }}
seed = 5

{faults}

[[gates]]
name = "no job lost"
metric = "lost_jobs"
thresholds = ["count == 0"]
min_samples = 20
include_warmup = true

[[gates]]
name = "no job answered twice"
metric = "answered_twice"
thresholds = ["count == 0"]
min_samples = 20
include_warmup = true

[[gates]]
name = "failed jobs only inside fault windows"
metric = "failed_outside_faults"
thresholds = ["count == 0"]
include_warmup = true

[[gates]]
name = "every fault recovered"
metric = "unrecovered_faults"
thresholds = ["count == 0"]
min_samples = {fault_count}

[[gates]]
name = "recovery under 30 s"
metric = "recovery_time"
thresholds = ["max < 30000"]
min_samples = {fault_count}
"""
WORKER_KILL = """
[[faults]]
kind = "worker-kill"
target = "ai"
at = "20s"
duration = "10s"
"""
BROKER_RESTART = """
[[faults]]
kind = "broker-restart"
at = "60s"
duration = "10s"
"""


def _scenario(folder: Path, *faults: str, **values: object) -> Path:
    # 160 s written, 80 s real: the broker's boot on a busy machine can overrun its planned
    # 5 s by 15 s or more, and its recovery needs room after that.
    fields = {"seconds": 160, "repeat": 0.85, "low": 0.2, "high": 0.5, **values}
    path = folder / "resilience-ci.toml"
    path.write_text(SCENARIO.format(faults="".join(faults), fault_count=len(faults), **fields))
    return path


def _verdicts(result: RunResult) -> dict[str, Verdict]:
    return {g.gate.title: g.verdict for g in result.evaluation.gates}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_worker_kill_and_a_broker_restart_lose_nothing_and_recover(tmp_path: Path) -> None:
    result = run(
        RunOptions(
            scenario_path=_scenario(tmp_path, WORKER_KILL, BROKER_RESTART),
            reports_dir=tmp_path / "reports",
            servers="auto",  # the broker is restarted: auto gives the run its own
            drain_seconds=30.0,
        )
    )
    summary = result.summary
    assert summary["servers"]["rabbitmq"] in ("ephemeral", "container")
    outcomes = {o["label"]: o for o in summary["fault_outcomes"]}
    assert set(outcomes) == {"worker-kill ai", "broker-restart"}, summary["fault_windows"]
    for label, outcome in outcomes.items():
        assert outcome["lost"] == 0 and outcome["answered_twice"] == 0, (label, outcome)
        assert outcome["recovery_seconds"] is not None and outcome["recovery_seconds"] < 30
        assert outcome["before"]["jobs"] > 0 and outcome["during"]["jobs"] > 0
    assert set(_verdicts(result).values()) == {Verdict.PASS}, (
        _verdicts(result),
        summary["headline"],
        summary["notes"],
    )
    assert "fault" in (result.run_dir / "report.html").read_text()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_that_acks_before_finishing_loses_jobs_when_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in builds.environment("early_acks").items():
        monkeypatch.setenv(key, value)
    result = run(
        RunOptions(
            # Slow, mostly new photos on one AI replica: jobs are in flight when it is killed.
            scenario_path=_scenario(
                tmp_path, WORKER_KILL, seconds=70, repeat=0.2, low=1.5, high=2.5
            ),
            reports_dir=tmp_path / "reports",
            workers=("ai",),
            seed_replicas=False,
            drain_seconds=20.0,
        )
    )
    assert _verdicts(result)["no job lost"] is Verdict.FAIL, result.summary["headline"]
    assert result.summary["fault_outcomes"][0]["lost"] > 0
    assert result.exit_code == 1


def test_a_restart_on_servers_the_run_does_not_own_is_refused_before_it_starts(
    tmp_path: Path,
) -> None:
    scenario = _scenario(tmp_path, BROKER_RESTART)
    for servers in ("running", ServerUrls()):
        with pytest.raises(HarnessError, match=r"faults\[0\] \(broker-restart\).*owned by the run"):
            run(RunOptions(scenario_path=scenario, reports_dir=tmp_path / "r", servers=servers))
    assert not (tmp_path / "r").exists()  # refused before the run folder was made


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_job_answered_again_after_the_user_had_it_fails_the_answered_twice_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in builds.environment("double_answer").items():
        monkeypatch.setenv(key, value)
    result = run(
        RunOptions(
            scenario_path=_scenario(tmp_path, WORKER_KILL, seconds=70),
            reports_dir=tmp_path / "reports",
            workers=("ai",),
            seed_replicas=False,
            drain_seconds=20.0,
        )
    )
    verdicts = _verdicts(result)
    assert verdicts["no job answered twice"] is Verdict.FAIL, result.summary["headline"]
    assert verdicts["no job lost"] is Verdict.PASS  # the breakage is the second answer alone
    assert result.exit_code == 1
