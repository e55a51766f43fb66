"""Percentiles of histograms merged across processes equal those of the pooled raw values."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests import histograms as h
from loadtests.records import ms

PCTS = (1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)

durations = st.floats(0.0, h.EXACT_BELOW_MS - 1, allow_nan=False).map(ms)


@given(
    parts=st.lists(st.lists(durations, min_size=0, max_size=300), min_size=1, max_size=6).filter(
        lambda parts: any(parts)
    )
)
@settings(max_examples=40, deadline=None)
def test_merged_percentiles_equal_the_pooled_values_to_the_millisecond(
    parts: list[list[float]],
) -> None:
    encoded = []
    for values in parts:
        recorded = h.HistogramSet()
        for value in values:
            recorded.record("processing_ms", value)
        # through JSON, as the processes' files go
        encoded.append(json.loads(json.dumps(recorded.encode())))
    document = h.merged_document(encoded)
    merged = document["metrics"]["processing_ms"]
    pooled = [round(v) for values in parts for v in values]
    assert merged["count"] == len(pooled)
    assert merged["min"] == min(pooled) and merged["max"] == max(pooled)
    for pct in h.PERCENTILES:
        assert merged[f"p{pct:g}"] == h.nearest_rank(pooled, pct)
    histogram = h.decode(merged["encoded"])
    raw = [v for values in parts for v in values]
    for pct in PCTS:
        exact = h.nearest_rank(pooled, pct)
        assert histogram.get_value_at_percentile(pct) == exact
        # and within half a millisecond of the raw (unrounded) pooled percentile
        assert abs(exact - h.nearest_rank(raw, pct)) <= 0.5


def test_nearest_rank_is_hdr_definition() -> None:
    values = [10, 20, 30, 40]
    # rank = max(1, int(p / 100 * n + 0.5)): 37.5 % of 4 is 1.5, rounded up to rank 2
    cases = {0: 10, 25: 10, 37.4: 10, 37.5: 20, 50: 20, 62.5: 30, 100: 40}
    assert {p: h.nearest_rank(values, p) for p in cases} == cases
    with pytest.raises(ValueError):
        h.nearest_rank([], 50)


def test_values_beyond_the_range_are_clamped_and_counted() -> None:
    recorded = h.HistogramSet()
    recorded.record("end_to_end_ms", h.HIGHEST_MS * 3)
    recorded.record("end_to_end_ms", 12.0)
    recorded.record("end_to_end_ms", None)
    document = h.merged_document([recorded.encode()])
    metric = document["metrics"]["end_to_end_ms"]
    assert metric["count"] == 2
    assert metric["clamped"] == 1
    assert metric["max"] >= h.HIGHEST_MS


def test_every_millisecond_below_the_exact_bound_has_its_own_bucket() -> None:
    histogram = h.new_histogram()
    for value in (h.EXACT_BELOW_MS - 2, h.EXACT_BELOW_MS - 1):
        histogram.record_value(value)
    assert histogram.get_value_at_percentile(50) == h.EXACT_BELOW_MS - 2
    assert histogram.get_value_at_percentile(100) == h.EXACT_BELOW_MS - 1
