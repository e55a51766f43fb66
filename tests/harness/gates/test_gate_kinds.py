"""Every gate of every shipped scenario, judged on a simulated run: it passes when the system is
healthy, FAILS when the property it guards is broken (cache off, latency added, q.ai starved,
a job dropped, ...), and is inconclusive without enough data. A gate that cannot fail is a
defect, so a shipped gate without a breaking fault here fails the suite."""

from __future__ import annotations

import pytest

from harness.gates import Gate, Verdict, evaluate
from harness.gates.measurements import FAULT_METRICS, Samples
from harness.scenario import Scenario, list_scenarios, load_scenario
from tests.harness.gates.simulation import START, Faults, simulate

SCANS = 2000
SCENARIOS = {name: load_scenario(path) for name, path in list_scenarios().items()}
# The fault timeline's metrics (recovery, answered twice, ...) need a run with [[faults]]; their
# gates are broken on made-up timelines in tests/harness/run/test_recovery.py.
CASES = [
    pytest.param(name, index, id=f"{name}:{g.title}")
    for name, scenario in SCENARIOS.items()
    for index, g in enumerate(scenario.gates)
    if g.metric not in FAULT_METRICS
]


_TIMES = ("processing_time", "end_to_end_time", "server_processing_time", "stack_overhead")


def breaking_fault(gate: Gate) -> Faults:
    """The fault that breaks what ``gate`` guards."""
    cache = gate.tags.get("cache")
    by_metric = {
        "processing_time": Faults(hit_delay_ms=6000)
        if cache == "hit"
        else Faults(added_latency_ms=8000),
        "end_to_end_time": Faults(added_latency_ms=8000),
        "server_processing_time": Faults(hit_delay_ms=6000)
        if cache == "hit"
        else Faults(added_latency_ms=8000),
        "stack_overhead": Faults(stack_delay_ms=2000),
        "stage_time": Faults(stack_delay_ms=2000, hit_delay_ms=2000, added_latency_ms=8000),
        "cache_hit_ratio": Faults(cache_disabled=True),
        "wrong_answers": Faults(wrong_from_cache=1)
        if cache == "hit"
        else Faults(wrong_from_model=1),
        "queue_wait": Faults(ai_starved=True),
        "queue_depth": Faults(no_batch_flood=True),
        "error_ratio": Faults(http_error_every=20),
        "failed_jobs": Faults(failed_job_every=10),  # 10 %: past resilience's 5 % too
        "lost_jobs": Faults(dropped_jobs=1),
        "dlq_length": Faults(dlq_per_second=10),
        "redis_clients": Faults(redis_leak=True),
        "tier_cpu": Faults(over_budget=True),
        "tier_memory": Faults(over_budget=True),
        "history_missing": Faults(history_drop_every=3),
        "honest_rate_limited": Faults(honest_limited_every=50),
        "abuser_not_limited": Faults(limits_off=True),
        "stats_mismatch": Faults(stats_off=True),
        "progress_backwards": Faults(progress_backwards_every=10),
        "progress_frozen": Faults(progress_frozen=True),
        "follow_mismatch": Faults(follow_mismatch_every=2),
        "status_result_mismatch": Faults(status_result_every=10),
    }
    assert gate.metric in by_metric, f"no fault breaks {gate.metric}: add one to this test"
    return by_metric[gate.metric]


def after_warmup(scenario: Scenario, faults: Faults) -> Faults:
    """The same fault, starting once warm-up is over (so every gate can see it)."""
    return Faults(**{**faults.__dict__, "fault_from": scenario.warmup + 1.0})


def judge(scenario: Scenario, gate: Gate, samples: Samples) -> Verdict:
    return evaluate([gate], samples, warmup=scenario.warmup, scales=scenario.scales).verdict


@pytest.fixture(scope="module")
def healthy() -> dict[str, Samples]:
    return {name: simulate(scenario, scans=SCANS) for name, scenario in SCENARIOS.items()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_healthy_run_passes_every_gate(name: str, healthy: dict[str, Samples]) -> None:
    scenario = SCENARIOS[name]
    gates = [g for g in scenario.gates if g.metric not in FAULT_METRICS]
    result = evaluate(gates, healthy[name], warmup=scenario.warmup, scales=scenario.scales)
    assert result.verdict is Verdict.PASS, [g.message for g in result.gates]
    assert result.exit_code() == 0


@pytest.mark.parametrize(("name", "index"), CASES)
def test_the_gate_fails_when_its_property_is_broken(name: str, index: int) -> None:
    scenario = SCENARIOS[name]
    gate = scenario.gates[index]
    samples = simulate(scenario, after_warmup(scenario, breaking_fault(gate)), scans=SCANS)
    result = evaluate([gate], samples, warmup=scenario.warmup, scales=scenario.scales)
    assert result.verdict is Verdict.FAIL, result.gates[0].message
    assert "breaks" in result.gates[0].message
    assert result.exit_code() == 1


@pytest.mark.parametrize(("name", "index"), CASES)
def test_the_gate_is_inconclusive_without_its_data(
    name: str, index: int, healthy: dict[str, Samples]
) -> None:
    scenario = SCENARIOS[name]
    gate = scenario.gates[index]
    full = healthy[name]
    without = Samples.from_records(
        (r for r in full.records() if r["metric"] != gate.metric), start=full.start, end=full.end
    )
    assert judge(scenario, gate, without) is Verdict.INCONCLUSIVE
    if gate.min_samples > 1:
        # one observation short of min_samples (within the part the gate judges)
        judged = full if gate.include_warmup else full.excluding_warmup(scenario.warmup)
        kept = judged.observations(gate.metric, gate.tags)[: gate.min_samples - 1]
        sparse = Samples(start=full.start, end=full.end)
        for obs in kept:
            sparse.record(gate.metric, obs.value, t=obs.t, tags=dict(obs.tags))
        result = evaluate([gate], sparse, warmup=scenario.warmup, scales=scenario.scales)
        assert result.verdict is Verdict.INCONCLUSIVE
        assert f"only {gate.min_samples - 1} samples" in result.gates[0].message
        assert result.exit_code() == 1
        assert result.exit_code(inconclusive_ok=True) == 0


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_fault_during_warmup_only_spares_the_measured_gates(name: str) -> None:
    """Warm-up exclusion is real: latency added only during warm-up does not fail p95 gates,
    while correctness gates that include warm-up still catch a job lost then."""
    scenario = SCENARIOS[name]
    early = Faults(added_latency_ms=8000, stack_delay_ms=2000, dropped_jobs=1)
    cutoff = START + scenario.warmup
    # faulty during warm-up, healthy after it
    warm = simulate(scenario, early, scans=SCANS).window(end=cutoff)
    rest = simulate(scenario, scans=SCANS).window(start=cutoff)
    combined = Samples(start=START, end=START + scenario.total_duration).merge(warm).merge(rest)
    for gate in scenario.gates:
        verdict = judge(scenario, gate, combined)
        if gate.metric == "lost_jobs":
            assert gate.include_warmup and verdict is Verdict.FAIL
        elif gate.metric in _TIMES:
            assert not gate.include_warmup and verdict is Verdict.PASS
