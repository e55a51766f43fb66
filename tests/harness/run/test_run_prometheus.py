"""A target run without Prometheus names the gates that lack data and why; with a real one, the
server-side gates of ``smoke`` (queues, q.dlq, Redis clients, CPU and memory by tier) come from
PromQL over the run's window, none inconclusive.

The stack is a local one brought up beside the run, as a deployed stack would be; Prometheus
(Debian's 2.42) scrapes its services' and workers' ``/metrics`` (queue depths, Redis clients) and
a stand-in for the kubelets' cAdvisor (tests/harness/collect/exporters.py), all on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.collect.promql import prometheus_metrics
from harness.gates.evaluate import Verdict
from harness.gates.measurements import Samples
from harness.run.runner import RunOptions, _stack_options, _target_gauges, _tier, run
from harness.scenario import find_scenario, load_scenario
from harness.stack.local import LocalStack
from harness.stack.sandbox import ServerUrls
from tests.harness.collect.exporters import serve_cadvisor
from tests.harness.collect.prometheus_server import prometheus_binary, prometheus_server


def test_without_prometheus_a_target_run_says_which_gates_lack_data_and_why() -> None:
    smoke = load_scenario(find_scenario("smoke"))
    samples = Samples(start=0.0, end=60.0)
    for second in range(60):  # values that would pass, were they allowed to judge
        samples.record("redis_clients", 10, t=float(second))
        samples.record("queue_depth", 5, t=float(second), tags={"queue": "q.batch"})
    options = RunOptions(scenario_path=find_scenario("smoke"), target="http://deployed")
    notes = _target_gauges(options, smoke, samples, flood=None, progress=lambda _: None)
    assert notes == []
    judged = {g.gate.title: g for g in smoke.evaluate(samples).gates}
    for name in prometheus_metrics():
        gates = [g for g in judged.values() if g.gate.metric == name]
        for gate in gates:
            assert gate.verdict is Verdict.INCONCLUSIVE, gate.message
            assert "pass --prometheus URL" in gate.message
    backlog = judged["q.batch really had a backlog"].message
    assert "--flood-broker" in backlog
    assert (
        judged["p95 processing time under the seed's 5 s at the model's scale"].verdict
        is Verdict.INCONCLUSIVE
    )  # no data


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_target_run_with_prometheus_judges_every_smoke_gate(
    tmp_path: Path, servers: ServerUrls
) -> None:
    prometheus_binary()
    smoke = find_scenario("smoke")
    scenario = load_scenario(smoke)
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    # The stack as the local run would bring it up for smoke (seed replicas, the scenario's fakes).
    options = _stack_options(
        scenario, RunOptions(scenario_path=smoke, servers=servers), stack_dir, servers
    )
    # Queue depths and Redis clients read every second, as often as Prometheus scrapes here.
    options.settings_overrides["queue_sample_seconds"] = 1.0
    with LocalStack(options) as stack:
        assert stack.settings is not None
        tiers = {name: _tier(name) for name in stack.processes}
        with (
            serve_cadvisor(stack, tiers) as cadvisor,
            prometheus_server(
                {**stack.metrics_urls, "cadvisor": cadvisor}, tmp_path / "prometheus"
            ) as prometheus,
        ):
            result = run(
                RunOptions(
                    scenario_path=smoke,
                    target=stack.base_url,
                    reports_dir=tmp_path / "reports",
                    servers=servers,
                    prometheus=prometheus,
                    prometheus_step=1.0,
                    flood_broker=stack.settings.broker_url,
                    drain_seconds=20.0,
                )
            )
    verdicts = {gate.gate.title: gate for gate in result.evaluation.gates}
    undecided = {t: g.message for t, g in verdicts.items() if g.verdict is Verdict.INCONCLUSIVE}
    assert not undecided, (undecided, result.summary["notes"])
    assert result.evaluation.verdict is Verdict.PASS, (
        {t: g.message for t, g in verdicts.items() if g.verdict is not Verdict.PASS},
        result.summary["headline"],
    )
    # The server-side gates were judged on Prometheus's points, one per second of the window.
    window = result.summary["duration_seconds"]
    for title in ("q.dlq under its alert bound", "Redis clients bounded"):
        assert verdicts[title].samples >= window - 2, (title, verdicts[title].samples, window)
    backlog = verdicts["q.batch really had a backlog"].thresholds[0].observed
    assert backlog is not None and backlog >= 3
