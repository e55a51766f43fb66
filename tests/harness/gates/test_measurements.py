"""The Samples store: recording rules, tag filters, the warm-up time filter, merging, shipping."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.gates.measurements import METRICS, MetricKind, Samples, metric
from reference.common import topology


def test_registry_names_units_and_kinds() -> None:
    assert metric("processing_time").unit == "ms"
    assert metric("processing_time").kind is MetricKind.TREND
    assert metric("cache_hit_ratio").kind is MetricKind.RATE
    assert metric("queue_depth").kind is MetricKind.GAUGE
    assert metric("batch_published").kind is MetricKind.COUNTER
    assert {spec.unit for spec in METRICS.values() if spec.name.endswith(("_time", "_wait"))} == {
        "ms"
    }
    with pytest.raises(KeyError, match="unknown metric 'latency'; known: processing_time"):
        metric("latency")


def test_queue_tags_come_from_the_topology() -> None:
    assert metric("queue_wait").tags["queue"] == {spec.name for spec in topology.QUEUES}
    assert metric("batch_published").tags["task"] == set(topology.BATCH.tasks)


def test_record_keeps_values_tags_and_time() -> None:
    samples = Samples(start=100.0)
    samples.record("processing_time", 1234.5, t=101.0, tags={"cache": "hit", "mode": "analyze"})
    samples.record("processing_time", 10, t=102.0, tags={"cache": "miss"})
    (first, second) = samples.observations("processing_time")
    assert first.t == 101.0 and first.value == 1234.5
    assert first.tags == (("cache", "hit"), ("mode", "analyze"))
    assert first.tag("cache") == "hit" and first.tag("queue") is None
    assert second.value == 10.0 and isinstance(second.value, float)
    assert samples.values("processing_time", {"cache": "miss"}) == [10.0]
    assert samples.values("processing_time", {"cache": "miss", "mode": "analyze"}) == []
    assert samples.values("end_to_end_time") == []
    assert samples.metrics() == ["processing_time"] and len(samples) == 2


def test_tag_values_are_kept_as_strings() -> None:
    samples = Samples()
    samples.record_event("error_ratio", True, t=1.0, tags={"status": 503})
    assert samples.observations("error_ratio", {"status": "503"})[0].value == 1.0


def test_time_defaults_to_now() -> None:
    import time

    before = time.time()
    obs = Samples().record("redis_clients", 3)
    assert before <= obs.t <= time.time()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("cache_hit_ratio", 0.5, "cache_hit_ratio is a rate: record 1"),
        ("wrong_answers", 2, "wrong_answers is a rate"),
        ("batch_published", -1, "batch_published is a counter: increments must be >= 0"),
        ("processing_time", float("nan"), "value must be a finite number"),
        ("processing_time", float("inf"), "value must be a finite number"),
        ("", 1.0, "a metric needs a name"),
    ],
)
def test_bad_values_are_refused(name: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Samples().record(name, value, t=0.0)


def test_unregistered_metrics_may_be_recorded_but_are_not_checked() -> None:
    samples = Samples()
    samples.record("cpu_percent", 73.5, t=1.0, tags={"tier": "async"})
    assert samples.values("cpu_percent", {"tier": "async"}) == [73.5]


def test_counter_and_event_helpers() -> None:
    samples = Samples()
    samples.increment("batch_published", t=1.0, tags={"task": "report.generate"})
    samples.increment("batch_published", 4, t=2.0)
    samples.record_event("lost_jobs", False, t=1.0)
    assert samples.values("batch_published") == [1.0, 4.0]
    assert samples.values("lost_jobs") == [0.0]


def test_excluding_warmup_needs_a_start() -> None:
    samples = Samples()
    samples.record("processing_time", 1.0, t=5.0)
    assert len(samples.excluding_warmup(0)) == 1
    with pytest.raises(ValueError, match="no start time"):
        samples.excluding_warmup(10)
    with pytest.raises(ValueError, match="warm-up must be >= 0"):
        Samples(start=0).excluding_warmup(-1)


times = st.floats(min_value=0, max_value=1000, allow_nan=False)


@given(
    st.lists(st.tuples(st.sampled_from(["processing_time", "queue_depth"]), times), max_size=50),
    st.floats(min_value=0, max_value=1000),
    st.floats(min_value=0, max_value=500),
)
def test_warmup_filter_keeps_exactly_what_came_after(
    points: list[tuple[str, float]], start: float, warmup: float
) -> None:
    samples = Samples(start=start)
    for name, t in points:
        samples.record(name, t, t=t)
    measured = samples.excluding_warmup(warmup)
    for name in ("processing_time", "queue_depth"):
        expected = [t for n, t in points if n == name and t >= start + warmup]
        assert measured.values(name) == expected
    assert measured.start == start + warmup
    assert len(samples) == len(points)  # the original is untouched


def test_window_keeps_inclusive_bounds() -> None:
    samples = Samples(start=0.0, end=10.0)
    for t in (0.0, 2.0, 5.0, 10.0):
        samples.record("queue_depth", t, t=t)
    window = samples.window(2.0, 5.0)
    assert window.values("queue_depth") == [2.0, 5.0]
    assert (window.start, window.end) == (2.0, 5.0)


def test_merge_concatenates_processes_and_widens_bounds() -> None:
    one, two = Samples(start=10.0, end=20.0), Samples(start=9.0, end=25.0)
    one.record("processing_time", 1.0, t=11.0)
    two.record("processing_time", 2.0, t=12.0)
    two.record("redis_clients", 7.0, t=12.0)
    merged = Samples().merge(one).merge(two)
    assert sorted(merged.values("processing_time")) == [1.0, 2.0]
    assert merged.values("redis_clients") == [7.0]
    assert (merged.start, merged.end) == (9.0, 25.0)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    samples = Samples(start=1.5, end=99.0)
    samples.record("processing_time", 1234.567, t=2.0, tags={"cache": "hit"})
    samples.record_event("lost_jobs", True, t=3.0)
    path = tmp_path / "samples.jsonl"
    samples.dump_jsonl(path)
    back = Samples.load_jsonl(path)
    assert (back.start, back.end) == (1.5, 99.0)
    assert back.observations("processing_time") == samples.observations("processing_time")
    assert back.observations("lost_jobs") == samples.observations("lost_jobs")
    assert list(back.records()) == list(samples.records())


def test_from_records_refuses_bad_tags() -> None:
    with pytest.raises(ValueError, match="tags must be an object"):
        Samples.from_records([{"metric": "processing_time", "t": 1, "value": 2, "tags": [1]}])


def test_missing_observations_travel_with_the_samples(tmp_path: Path) -> None:
    samples = Samples(start=0.0, end=10.0)
    samples.record("stack_overhead", 40.0, t=1.0, tags={"cache": "hit"})
    samples.record_missing("stack_overhead", "server_processing_ms", t=2.0, tags={"cache": "hit"})
    samples.record_missing("stack_overhead", "model_ms", t=8.0, tags={"cache": "miss"})
    assert [g.what for g in samples.missing("stack_overhead")] == [
        "server_processing_ms",
        "model_ms",
    ]
    assert [g.what for g in samples.missing("stack_overhead", {"cache": "miss"})] == ["model_ms"]
    assert [g.what for g in samples.excluding_warmup(5.0).missing("stack_overhead")] == ["model_ms"]
    merged = Samples().merge(samples).merge(samples)
    assert len(merged.missing("stack_overhead")) == 4
    path = tmp_path / "samples.jsonl"
    samples.dump_jsonl(path)
    back = Samples.load_jsonl(path)
    assert back.missing("stack_overhead") == samples.missing("stack_overhead")
    assert back.values("stack_overhead") == [40.0]
    with pytest.raises(KeyError, match="unknown metric 'overhead'"):
        samples.record_missing("overhead", "x", t=0.0)


def test_which_observations_contain_the_models_latency() -> None:
    assert metric("processing_time").includes_model_time({})
    assert not metric("processing_time").includes_model_time({"cache": "hit"})
    assert metric("server_processing_time").includes_model_time({"cache": "miss"})
    assert not metric("stack_overhead").includes_model_time({"cache": "miss"})
    assert metric("stage_time").includes_model_time({"stage": "model"})
    assert not metric("stage_time").includes_model_time({"stage": "download"})
    assert not metric("queue_wait").includes_model_time({})
