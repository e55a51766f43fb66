"""The scenarios shipped in ``scenarios/``: they load, and each declares what it promises."""

from __future__ import annotations

import pytest

from harness.gates.measurements import FAULT_METRICS, METRICS
from harness.mocks import catalog
from harness.mocks.openai_config import LognormalLatency
from harness.scenario import (
    SCENARIOS_DIR,
    Scenario,
    expected_hit_ratio,
    find_scenario,
    list_scenarios,
    load_scenario,
    steady_hit_ratio,
)
from harness.scenario.workload import item_weights

SHIPPED = (
    "smoke",
    "peak",
    "capacity",
    "batch-flood",
    "cache",
    "openai-degraded",
    "resilience",
)


def scenario(name: str) -> Scenario:
    return load_scenario(find_scenario(name))


def gate_selectors(s: Scenario) -> dict[str, list[str]]:
    return {g.selector: [str(t) for t in g.thresholds] for g in s.gates}


def test_the_seven_scenarios_are_shipped() -> None:
    assert set(list_scenarios()) == set(SHIPPED)
    assert all(path.parent == SCENARIOS_DIR for path in list_scenarios().values())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_loads_and_is_named_after_its_file(name: str) -> None:
    loaded = scenario(name)
    assert loaded.name == name
    assert loaded.description
    assert loaded.warmup < loaded.total_duration
    assert all(g.name for g in loaded.gates), "shipped gates carry a readable name"


def test_smoke_fits_ci_and_carries_every_standard_gate() -> None:
    smoke = scenario("smoke")
    # under 2 minutes of wall clock: the load itself, leaving room for stack start and stop
    assert smoke.total_duration <= 75
    assert max(stage.users or 0 for stage in smoke.load.stages) <= 10
    assert smoke.fakes.openai.time_scale < 1  # model calls faster than the seed's 2-5 s
    assert smoke.background.batch is not None
    gates = gate_selectors(smoke)
    # the seed's targets at the model's scale, plus the poll that does not scale
    assert gates["processing_time"] == ["p(95) < 5000 * model_scale + 1500"]
    assert gates["end_to_end_time"] == ["p(95) < 10000 * model_scale + 2000"]
    assert gates["stage_time{stage=model}"] == ["p(95) < 5000 * model_scale + 500"]
    assert gates["cache_hit_ratio"] == ["rate >= 0.7"]
    assert gates["wrong_answers{cache=hit}"] == ["count == 0"]
    assert gates["queue_wait{queue=q.ai}"] == ["p(95) < 1000"]
    assert gates["error_ratio"] == ["rate < 0.01"]
    assert gates["lost_jobs"] == ["count == 0"]
    assert gates["dlq_length"] == ["max <= 100"]
    # every metric the registry knows is gated in smoke, except the flood's own counter and
    # what only a run with faults records (resilience gates those)
    assert {g.metric for g in smoke.gates} == set(METRICS) - {"batch_published"} - FAULT_METRICS


# resilience puts faults in the way on purpose (a restart holds every job for its window), so
# its time gates are the p95 after each fault has recovered, not over the whole run.
@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "resilience"])
def test_every_shipped_scenario_gates_where_the_time_goes(name: str) -> None:
    """Stack overhead and cache-hit processing, both on the server's clock (no poll in them)."""
    loaded = scenario(name)
    gates = gate_selectors(loaded)
    assert gates["stack_overhead"][0].startswith("p(95) < ")
    assert gates["server_processing_time{cache=hit}"][0].startswith("p(95) < ")
    # a hit calls no model, so its bound is real time and at most the seed's ~1 s
    (hits,) = (g for g in loaded.gates if g.selector == "server_processing_time{cache=hit}")
    assert hits.thresholds[0].scale is None and hits.thresholds[0].bound_ms() <= 1000


def test_peak_is_the_seeds_500_concurrent_users() -> None:
    peak = scenario("peak")
    assert peak.load.model == "closed"
    assert max(stage.users or 0 for stage in peak.load.stages) == 500
    assert peak.load.time_scale == 1.0
    assert peak.load.locust_processes > 1
    assert gate_selectors(peak)["processing_time"] == ["p(95) < 5000"]


def test_capacity_is_peaks_workload_and_gates_in_a_shorter_run() -> None:
    peak, capacity = scenario("peak"), scenario("capacity")
    assert (capacity.mix, capacity.images, capacity.fakes) == (peak.mix, peak.images, peak.fakes)
    assert capacity.gates == peak.gates
    assert capacity.total_duration < peak.total_duration
    assert capacity.warmup < capacity.total_duration / 2


def test_batch_flood_floods_q_batch_and_gates_q_ai_wait() -> None:
    flood = scenario("batch-flood")
    batch = flood.background.batch
    assert batch is not None and batch.rate is not None
    # arrivals outpace the two batch workers, so q.batch grows for the whole run
    assert batch.rate * batch.work_seconds > 2
    assert batch.start < flood.load.warmup  # the measured part is all under flood
    gates = gate_selectors(flood)
    assert gates["queue_wait{queue=q.ai}"][0] == "p(95) < 1000"
    assert gates["queue_depth{queue=q.batch}"] == ["max >= 100"]


def test_cache_workload_gates_its_honest_reach_above_exact_hits() -> None:
    cache = scenario("cache")
    images = cache.images
    assert (images.items, images.zipf) == (30, 1.1)
    # the comment's arithmetic: exact hits only from app retries
    assert steady_hit_ratio(images) == pytest.approx(0.09)
    assert images.variants.rephotographed == pytest.approx(0.9)
    weights = item_weights(images)
    assert weights[0] == pytest.approx(0.29, abs=0.01)
    assert weights[-1] == pytest.approx(0.007, abs=0.001)
    lookalikes = [item for item in catalog.ITEMS[: images.items] if item.family]
    assert len(lookalikes) == 3
    # the gate is the honest reach, above what exact hits alone give (near hits must exist)
    assert gate_selectors(cache)["cache_hit_ratio"] == ["rate >= 0.7"]
    assert expected_hit_ratio(images, 7 * 540, warmup_scans=7 * 120) < 0.7


def test_smoke_cache_gate_needs_near_hits_from_its_workload() -> None:
    smoke = scenario("smoke")
    images = smoke.images
    # re-takes are new photos of the item; identical bytes are only the app's retries
    assert images.variants.rephotographed == pytest.approx(0.9)
    assert gate_selectors(smoke)["cache_hit_ratio"] == ["rate >= 0.7"]
    # ~3 scans a second for 60 s, 10 s of warm-up: exact hits alone stay far below the gate
    assert expected_hit_ratio(images, 180, warmup_scans=30) < 0.2


@pytest.mark.integration
@pytest.mark.parametrize("seed", [1, 2])
def test_smoke_workload_reaches_its_cache_gate_through_the_real_lookup(seed: int) -> None:
    """Smoke's photos replayed through the reference's cache at its settings' radius and colour
    check (``wastecoach cache-sweep``'s replay): clear of the 70 % gate with no false hit, warm-up
    included, so the gate is reachable by near matches and not by typing a share in."""
    from harness.bench import cache_sweep
    from harness.stack.sandbox import ServerUrls
    from reference.common.settings import Settings

    smoke = scenario("smoke")
    base = Settings(_env_file=None).model_copy(  # type: ignore[call-arg]
        update={"redis_url": ServerUrls.from_environment().redis_url, "redis_prefix": "wctest-"}
    )
    workload = cache_sweep.Workload("smoke", smoke.images, smoke.load.locust_processes, seed)
    scheme = cache_sweep.Scheme(base.cache_near_colour_distance)
    photos = cache_sweep.corpus(workload, 180)
    row = cache_sweep.replay(base, workload, photos, scheme, base.cache_near_radius)
    assert row.false_hits == 0
    assert row.near_hits > 4 * row.exact_hits
    assert row.hit_ratio > 0.75


def test_openai_degraded_is_slow_and_failing() -> None:
    degraded = scenario("openai-degraded")
    openai = degraded.fakes.openai
    assert isinstance(openai.latency, LognormalLatency)
    assert openai.latency.median >= 3.0 and openai.latency.sigma >= 0.5
    assert (openai.error_rate, openai.rate_limit_rate) == (0.05, 0.05)
    gates = gate_selectors(degraded)
    assert gates["error_ratio"] == ["rate < 0.01"]
    assert gates["lost_jobs"] == ["count == 0"]
    assert gates["dlq_length"] == ["max <= 100"]


def test_resilience_plays_every_fault_kind_and_gates_each_recovery() -> None:
    from harness.scenario.faults import FAULT_KINDS

    loaded = scenario("resilience")
    assert {f.kind for f in loaded.faults} == set(FAULT_KINDS)
    selectors = gate_selectors(loaded)
    assert selectors["lost_jobs"] == ["count == 0"]
    assert selectors["answered_twice"] == ["count == 0"]
    assert selectors["failed_outside_faults"] == ["count == 0"]
    assert selectors["recovery_time"] == ["max < 30000"]
    after = [g for g in loaded.gates if g.metric == "processing_after_fault"]
    assert {dict(g.tags)["fault"] for g in after} == {f.label for f in loaded.faults}
    recovery = next(g for g in loaded.gates if g.metric == "recovery_time")
    assert recovery.min_samples == len(loaded.faults)  # a fault that never recovered: no pass
