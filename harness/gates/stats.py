"""Small exact statistics for reports; percentiles are the gates' own (one definition)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.gates.evaluate import percentile

__all__ = ["percentile", "summary"]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else math.nan,
    }
