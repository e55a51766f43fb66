"""From events.csv rows to the observations gates judge: the server-side times of a scan."""

from __future__ import annotations

from typing import Any

import pytest

from harness.measurements import Samples
from harness.observations import add_events


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
