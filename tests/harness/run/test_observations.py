"""From a run's records to the observations gates judge: per-tier use against the seed's budgets
(``tier_cpu``, ``tier_memory``, and the smoke gates on them failing when a real process uses more
than its tier's budget) and the server-side times of a scan."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from harness.collect.resources import ResourceSampler, Watched
from harness.collect.sampler import Sampler
from harness.collect.series import Series, point
from harness.gates.evaluate import Verdict, evaluate_gate
from harness.gates.measurements import Samples
from harness.gates.model import Gate
from harness.run import observations
from harness.run.observations import add_events
from harness.scenario import find_scenario, load_scenario
from harness.stack.waits import wait_for
from reference.common import tiers

BURN = "while True: pass"
IDLE = "import time; time.sleep(60)"
HOLD_200_MB = "import time; block = b'x' * (200 * 2**20); time.sleep(60)"


def _smoke_gate(title: str) -> Gate:
    scenario = load_scenario(find_scenario("smoke"))
    return next(gate for gate in scenario.gates if gate.title == title)


def _small(tier: str) -> tiers.TierBudget:
    return tiers.TierBudget(tier, cpu_millis=100, memory_mib=100)


def test_tier_use_is_the_share_of_the_tier_budget() -> None:
    series = Series()
    api = tiers.tier_budget("api")
    series.add(
        [
            # Two api processes at one instant: 30 % and 20 % of a core, 100 MiB each.
            point(10.0, "cpu_percent", 30.0, process="gateway", tier="api"),
            point(10.0, "cpu_percent", 20.0, process="worker-api", tier="api"),
            point(10.0, "rss_bytes", 100 * 2**20, process="gateway", tier="api"),
            point(10.0, "rss_bytes", 100 * 2**20, process="worker-api", tier="api"),
            point(10.0, "cpu_percent", 99.0, process="openai", tier="fakes"),  # in no tier
        ]
    )
    samples = Samples(start=0.0, end=20.0)
    observations.add_tier_use(samples, series)
    assert samples.values("tier_cpu", {"tier": "api"}) == [pytest.approx(500 / api.cpu_millis)]
    assert samples.values("tier_memory", {"tier": "api"}) == [pytest.approx(200 / api.memory_mib)]
    assert samples.observations("tier_cpu", {"tier": "fakes"}) == []


def test_tier_budgets_sum_the_workloads_of_the_tier() -> None:
    for node in tiers.NODES:
        budget = tiers.tier_budget(node.tier)
        on_tier = tiers.workloads_on(node.tier)
        assert budget.cpu_millis == sum(w.cpu_millis for w in on_tier)
        assert budget.memory_mib == sum(w.memory_mib for w in on_tier)
    assert tiers.tier_budget("api").cpu_millis == 1000  # auth 400, users 200, locations 200, ...
    with pytest.raises(KeyError, match="known"):
        tiers.tier_budget("gpu")


@contextlib.contextmanager
def _child(code: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _sampled(code: str, *, until: str, at_least: float, count: int) -> Series:
    """``count`` samples (the runner's sampler, every 0.2 s) of a child process on the api
    tier, from when ``until`` (cpu_percent or rss_bytes) reads at least ``at_least``."""
    series = Series()
    with _child(code) as proc:
        resources = ResourceSampler([Watched("gateway", "api", proc.pid)])
        resources.handles = {"gateway": resources.handles["gateway"]}  # not the storage servers

        def warmed() -> bool:
            return any(p.metric == until and p.value >= at_least for p in resources.sample())

        wait_for(warmed, timeout=30, interval=0.2, describe=f"the child's {until}")
        sampler = Sampler({"resources": resources.sample}, series, interval=0.2).start()
        try:
            wait_for(
                lambda: len(list(series.select(until))) >= count,
                timeout=30,
                describe=f"{count} samples",
            )
        finally:
            sampler.stop()
        assert proc.poll() is None, "the child ran throughout"
    return series


def test_a_process_burning_cpu_fails_the_tier_cpu_gate() -> None:
    gate = _smoke_gate("api tier CPU within its budget")
    burning = _sampled(BURN, until="cpu_percent", at_least=50, count=gate.min_samples)
    idle = _sampled(IDLE, until="rss_bytes", at_least=1, count=gate.min_samples)
    for series, expected in ((burning, Verdict.FAIL), (idle, Verdict.PASS)):
        samples = Samples(start=0.0)
        observations.add_tier_use(samples, series, budget=_small)  # 100 m: a tenth of a core
        result = evaluate_gate(gate, samples)
        assert result.verdict is expected, result.message


def test_a_process_holding_memory_fails_the_tier_memory_gate() -> None:
    gate = _smoke_gate("api tier memory within its budget")
    holding = _sampled(HOLD_200_MB, until="rss_bytes", at_least=200 * 2**20, count=3)
    small, real = Samples(start=0.0), Samples(start=0.0)
    observations.add_tier_use(small, holding, budget=_small)  # 100 MiB
    observations.add_tier_use(real, holding)  # the api tier's 1612 MiB
    assert evaluate_gate(gate, small).verdict is Verdict.FAIL
    assert evaluate_gate(gate, real).verdict is Verdict.PASS


def scan(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "started_at": 100.0,
        "accepted": True,
        "status": "done",
        "cache_hit": False,
        "follow": "poll",
        "variant": "new",
        "mode": "analyze",
        "processing_ms": 900.0,
        "server_processing_ms": 520.0,
        "server_queue_wait_ms": 12.0,
        "server_download_ms": 8.0,
        "server_cache_lookup_ms": 2.0,
        "model_ms": 450.0,
        "server_store_ms": 30.0,
    }
    return {**row, **fields}


def observed(*events: dict[str, Any]) -> Samples:
    samples = Samples(start=0.0, end=200.0)
    add_events(samples, events)
    return samples


def test_a_miss_splits_into_its_stages_and_what_the_stack_adds() -> None:
    samples = observed(scan())
    assert samples.values("server_processing_time", {"cache": "miss"}) == [520.0]
    assert samples.values("stack_overhead", {"cache": "miss"}) == [pytest.approx(70.0)]
    stages = {o.tag("stage"): o.value for o in samples.observations("stage_time")}
    assert stages == {
        "queue_wait": 12.0,
        "download": 8.0,
        "cache_lookup": 2.0,
        "model": 450.0,
        "store": 30.0,
    }
    assert {o.tag("cache") for o in samples.observations("stage_time")} == {"miss"}
    assert not any(samples.missing(name) for name in samples.metrics())


def test_a_hits_overhead_is_its_whole_processing_and_it_has_no_model_stage() -> None:
    samples = observed(scan(cache_hit=True, model_ms=None, server_processing_ms=60.0))
    assert samples.values("stack_overhead", {"cache": "hit"}) == [60.0]
    assert samples.values("server_processing_time", {"cache": "hit"}) == [60.0]
    assert samples.values("stage_time", {"stage": "model"}) == []
    assert samples.missing("stage_time") == []


def test_absent_server_times_are_recorded_as_missing() -> None:
    """A result without timings (an older server, a proxy that drops them) must not vanish
    from the gates: it is missing, and the gate cannot pass."""
    samples = observed(
        scan(server_processing_ms=None, server_store_ms=None),
        scan(model_ms=None),
    )
    assert [g.what for g in samples.missing("server_processing_time")] == ["server_processing_ms"]
    assert sorted(g.what for g in samples.missing("stack_overhead")) == [
        "model_ms",
        "server_processing_ms",
    ]
    assert [(g.what, dict(g.tags)["stage"]) for g in samples.missing("stage_time")] == [
        ("server_store_ms", "store"),
        ("model_ms", "model"),
    ]


def test_only_finished_scans_carry_server_times() -> None:
    samples = observed(scan(status="failed", error_code="model_unavailable"), scan(status="error"))
    for name in ("server_processing_time", "stack_overhead", "stage_time"):
        assert samples.observations(name) == [] and samples.missing(name) == []
