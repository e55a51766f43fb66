"""Latency histograms that merge across Locust processes without losing the millisecond.

Every process records integer milliseconds (``round(ms)``) in an HDR histogram with five
significant digits: every value below 262 144 ms (4.4 minutes) has a bucket of its own, so a
percentile of the merged histogram is exactly the percentile of the pooled rounded values,
under HDR's definition (nearest rank: the smallest value whose cumulative count reaches
``int(p / 100 * n + 0.5)``, at least 1), which :func:`nearest_rank` implements for raw values.
Locust's own statistics round response times into coarse buckets and cannot do this.

No locust import here: the runner's parent process and the tests use this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_MS = 1
HIGHEST_MS = 600_000  # ten minutes; longer values are clamped to it (and counted)
SIGNIFICANT_FIGURES = 5
# 4-byte counts (up to 4e9 per bucket) halve the memory: 2 MB per histogram in each process.
WORD_SIZE = 4
# Below this every integer millisecond has its own bucket (2 ** 18 sub-buckets at 5 digits).
EXACT_BELOW_MS = 262_144
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram(word_size: int = WORD_SIZE) -> HdrHistogram:
    return HdrHistogram(LOWEST_MS, HIGHEST_MS, SIGNIFICANT_FIGURES, word_size=word_size)


def to_ms_int(ms: float) -> int:
    """The integer the histograms record for ``ms`` (rounded, clamped to the range)."""
    return min(max(round(ms), 0), HIGHEST_MS)


class HistogramSet:
    """One histogram per metric name, created on first use."""

    def __init__(self) -> None:
        self.histograms: dict[str, HdrHistogram] = {}
        self.clamped: dict[str, int] = {}

    def record(self, metric: str, ms: float | None) -> None:
        if ms is None:
            return
        histogram = self.histograms.get(metric)
        if histogram is None:
            histogram = self.histograms[metric] = new_histogram()
        if ms > HIGHEST_MS:
            self.clamped[metric] = self.clamped.get(metric, 0) + 1
        histogram.record_value(to_ms_int(ms))

    def encode(self) -> dict[str, Any]:
        return {
            "format": "hdrhistogram-v2-base64",
            "unit": "ms",
            "histograms": {name: h.encode().decode() for name, h in self.histograms.items()},
            "clamped": dict(self.clamped),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.encode(), indent=1))


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode())


def merge(parts: Iterable[Mapping[str, Any]]) -> dict[str, HdrHistogram]:
    """Add up the per-process histograms (as written by :meth:`HistogramSet.encode`)."""
    merged: dict[str, HdrHistogram] = {}
    for part in parts:
        for name, encoded in part.get("histograms", {}).items():
            histogram = merged.get(name)
            if histogram is None:
                # decode() gives 8-byte counts; the same here keeps add() on its fast path.
                histogram = merged[name] = new_histogram(word_size=8)
            histogram.add(decode(encoded))
    return merged


def merge_files(paths: Iterable[Path]) -> dict[str, HdrHistogram]:
    return merge(json.loads(path.read_text()) for path in paths)


def summary(histogram: HdrHistogram, percentiles: Sequence[float] = PERCENTILES) -> dict[str, Any]:
    """Count, min, max and the percentiles (integer ms) of one histogram."""
    count = histogram.get_total_count()
    out: dict[str, Any] = {"count": count}
    if not count:
        return out
    values = histogram.get_percentile_to_value_dict(list(percentiles))
    out["min"] = histogram.get_min_value()
    out["max"] = histogram.get_max_value()
    for p in percentiles:
        out[f"p{p:g}"] = values[p]
    return out


def merged_document(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``histograms.json`` holds: per metric the merged histogram and its summary."""
    parts = list(parts)
    merged = merge(parts)
    clamped: dict[str, int] = {}
    for part in parts:
        for name, n in part.get("clamped", {}).items():
            clamped[name] = clamped.get(name, 0) + n
    return {
        "format": "hdrhistogram-v2-base64",
        "unit": "ms",
        "exact_below_ms": EXACT_BELOW_MS,
        "processes": len(parts),
        "metrics": {
            name: {
                **summary(h),
                "clamped": clamped.get(name, 0),
                "encoded": h.encode().decode(),
            }
            for name, h in sorted(merged.items())
        },
    }


def nearest_rank(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of raw values under HDR's definition (see the module doc)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(int(min(pct, 100.0) * len(ordered) / 100 + 0.5), 1)
    return ordered[rank - 1]
