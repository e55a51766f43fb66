"""Comparing two runs: a regression needs both a relative criterion (p95 worse by more than
the allowed share) and statistical evidence (one-sided Mann-Whitney U), so noise on a shared
machine does not fail a release and a real slowdown does."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import mannwhitneyu

from harness.gates.stats import percentile
from harness.report.rundata import RunData

# Latency-like columns of events.csv compared between runs (higher is worse).
LATENCIES = ("processing_ms", "end_to_end_ms", "server_queue_wait_ms")


@dataclass(frozen=True)
class Criteria:
    max_p95_regression: float = 0.10  # candidate p95 may be at most 10 % worse
    alpha: float = 0.01  # significance of the one-sided Mann-Whitney U test
    max_hit_ratio_drop: float = 0.05  # absolute
    max_error_ratio_rise: float = 0.005  # absolute


@dataclass(frozen=True)
class Finding:
    metric: str
    baseline: float
    candidate: float
    change: float  # relative for latencies, absolute for ratios
    p_value: float | None
    regression: bool
    note: str


# Hits and misses are compared apart: a slower model shows in misses only, and the 70 % of
# unchanged hits would hide it in a pooled test.
GROUPS: dict[str, Any] = {
    "all": lambda e: True,
    "hit": lambda e: e.get("cache_hit") is True,
    "miss": lambda e: e.get("cache_hit") is False,
}


def _column(run: RunData, name: str, group: str) -> list[float]:
    keep = GROUPS[group]
    return [
        e[name]
        for e in run.events
        if e.get("status") == "done" and e.get(name) is not None and keep(e)
    ]


def _ratio(run: RunData, predicate: Any, among: Any) -> float:
    rows = [e for e in run.events if among(e)]
    return sum(1 for e in rows if predicate(e)) / len(rows) if rows else 0.0


def compare(
    baseline: RunData, candidate: RunData, criteria: Criteria | None = None
) -> list[Finding]:
    c = criteria or Criteria()
    findings: list[Finding] = []
    for name, group in ((n, g) for n in LATENCIES for g in GROUPS):
        base, cand = _column(baseline, name, group), _column(candidate, name, group)
        if len(base) < 5 or len(cand) < 5:
            continue
        b95, c95 = percentile(base, 95), percentile(cand, 95)
        change = (c95 - b95) / b95 if b95 > 0 else 0.0
        p_value = float(mannwhitneyu(cand, base, alternative="greater").pvalue)
        regression = change > c.max_p95_regression and p_value < c.alpha
        note = (
            f"p95 {b95:.1f} → {c95:.1f} ms ({change:+.1%}); P(candidate not slower) = {p_value:.2g}"
        )
        findings.append(
            Finding(f"{name} p95 ({group})", b95, c95, change, p_value, regression, note)
        )

    def accepted(e: dict[str, Any]) -> bool:
        return e.get("status") == "done"

    hit_b = _ratio(baseline, lambda e: e.get("cache_hit"), accepted)
    hit_c = _ratio(candidate, lambda e: e.get("cache_hit"), accepted)
    findings.append(
        Finding(
            "cache hit ratio",
            hit_b,
            hit_c,
            hit_c - hit_b,
            None,
            hit_b - hit_c > c.max_hit_ratio_drop,
            f"{hit_b:.1%} → {hit_c:.1%}",
        )
    )
    err_b = _ratio(baseline, lambda e: e.get("status") != "done", lambda e: True)
    err_c = _ratio(candidate, lambda e: e.get("status") != "done", lambda e: True)
    findings.append(
        Finding(
            "error ratio",
            err_b,
            err_c,
            err_c - err_b,
            None,
            err_c - err_b > c.max_error_ratio_rise,
            f"{err_b:.2%} → {err_c:.2%}",
        )
    )
    return findings


def as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]
