"""Judging gates on recorded samples: verdicts per threshold, per gate and overall, exit codes.

Rules:
- A threshold is *inconclusive* when the gate's observations (after its tag filter and, unless
  ``include_warmup``, after warm-up) number fewer than ``min_samples`` or none at all; otherwise
  it *passes* when ``aggregate <comparator> bound`` holds and *fails* when it does not.
- A gate, and the run, is ``fail`` if anything fails, else ``inconclusive`` if anything is,
  else ``pass``. A run with no gates is inconclusive: a gate that cannot fail is a defect.
- A metric the run marked unavailable (``Samples.mark_unavailable``: no source for it, an
  unreachable Prometheus, a query with no series, a window with gaps) makes the gates on it
  inconclusive with that reason, whatever was recorded.
- Exit codes: 0 pass, 1 fail, 1 inconclusive (a release gate that could not decide must not
  promote) unless ``inconclusive_ok`` makes it 0; 2 is reserved for the harness failing.
- Missing data never pass: a threshold that holds while some of the gate's observations are
  missing (:meth:`Samples.missing`, e.g. a finished scan without server timings) is
  *inconclusive*, and its message says which data were missing.
- A scaled threshold (``5000 * model_scale``) is judged with the factors the scenario gives.
- Percentiles are exact: linear interpolation between the two nearest ranks over the raw values
  (Hyndman and Fan type 7, numpy's default), computed with an exact rank.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from harness.gates.expressions import Threshold
from harness.gates.measurements import MetricKind, MetricSpec, Observation, Samples
from harness.gates.model import Gate, stays_broken

Scales = Mapping[str, float]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_HARNESS_ERROR = 2


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """fail if any fails; else inconclusive if any is (or there are none); else pass."""
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if not verdicts or Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def exit_code(verdict: Verdict, *, inconclusive_ok: bool = False) -> int:
    if verdict is Verdict.PASS or (verdict is Verdict.INCONCLUSIVE and inconclusive_ok):
        return EXIT_PASS
    return EXIT_FAIL


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` (0-100) percentile of ``values`` by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * Fraction(pct) / 100
    low = math.floor(rank)
    if low == rank:
        return ordered[low]
    return ordered[low] + (ordered[low + 1] - ordered[low]) * float(rank - low)


def aggregate(
    spec: MetricSpec, threshold: Threshold, observations: Sequence[Observation], seconds: float
) -> float | None:
    """The value ``threshold`` compares; ``seconds`` is the window a counter's rate is over.

    None when it cannot be computed (a counter rate over an empty window).
    """
    values = [obs.value for obs in observations]
    agg = threshold.aggregation
    if spec.kind is MetricKind.RATE:
        hits = sum(1 for v in values if v)
        return float(hits) if agg == "count" else hits / len(values)
    if spec.kind is MetricKind.COUNTER:
        total = math.fsum(values)
        if agg == "count":
            return total
        return total / seconds if seconds > 0 else None
    if agg == "p":
        assert threshold.percentile is not None
        return percentile(values, threshold.percentile)
    if agg == "med":
        return percentile(values, 50)
    if agg == "avg":
        return math.fsum(values) / len(values)
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    if agg == "count":
        return float(len(values))
    if agg == "value":
        return max(enumerate(observations), key=lambda pair: (pair[1].t, pair[0]))[1].value
    raise ValueError(f"{agg} does not apply to {spec.name} ({spec.kind})")


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    verdict: Verdict
    observed: float | None
    samples: int
    message: str


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    verdict: Verdict
    samples: int
    thresholds: tuple[ThresholdResult, ...]
    # What could not be observed, by name of the absent datum: how many observations.
    missing: Mapping[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return "; ".join(result.message for result in self.thresholds)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.gate.title,
            "metric": self.gate.metric,
            "tags": dict(self.gate.tags),
            "unit": self.gate.spec.unit,
            "verdict": self.verdict.value,
            "samples": self.samples,
            "min_samples": self.gate.min_samples,
            "missing": dict(self.missing),
            "thresholds": [
                {
                    "expression": str(result.threshold),
                    "verdict": result.verdict.value,
                    "observed": result.observed,
                    "message": result.message,
                }
                for result in self.thresholds
            ],
        }


@dataclass(frozen=True)
class Evaluation:
    """Every gate's result and the overall verdict."""

    gates: tuple[GateResult, ...]

    @property
    def verdict(self) -> Verdict:
        return combine([result.verdict for result in self.gates])

    def exit_code(self, *, inconclusive_ok: bool = False) -> int:
        return exit_code(self.verdict, inconclusive_ok=inconclusive_ok)

    def to_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict.value, "gates": [g.to_dict() for g in self.gates]}


def evaluate(
    gates: Sequence[Gate],
    samples: Samples,
    *,
    warmup: float = 0.0,
    scales: Scales | None = None,
) -> Evaluation:
    """Judge ``gates`` on ``samples``, leaving out the first ``warmup`` seconds after
    ``samples.start`` for every gate that does not ``include_warmup``; ``scales`` gives the
    factor of each scale a threshold may name (``model_scale``)."""
    measured = samples.excluding_warmup(warmup)
    return Evaluation(
        tuple(
            evaluate_gate(
                gate, samples if gate.include_warmup else measured, warmup=warmup, scales=scales
            )
            for gate in gates
        )
    )


def evaluate_gate(
    gate: Gate, samples: Samples, *, warmup: float = 0.0, scales: Scales | None = None
) -> GateResult:
    """Judge one gate on ``samples`` as given (already filtered); ``warmup`` only words it."""
    observations = samples.observations(gate.metric, gate.tags)
    unavailable = samples.unavailable(gate.metric, gate.tags)
    if unavailable is not None:
        results = tuple(
            ThresholdResult(
                threshold,
                Verdict.INCONCLUSIVE,
                None,
                len(observations),
                f"{gate.selector}: {threshold} cannot be judged: {unavailable}",
            )
            for threshold in gate.thresholds
        )
        return GateResult(gate, Verdict.INCONCLUSIVE, len(observations), results)
    missing = Counter(gap.what for gap in samples.missing(gate.metric, gate.tags))
    start = samples.start
    end = samples.end if samples.end is not None else samples.last_time()
    seconds = end - start if start is not None and end is not None else 0.0
    case = _Case(gate, observations, seconds, warmup=warmup, scales=scales or {})
    results = tuple(_missing_never_passes(case.judge(t), missing) for t in gate.thresholds)
    return GateResult(
        gate, combine([r.verdict for r in results]), len(observations), results, dict(missing)
    )


def _missing_never_passes(result: ThresholdResult, missing: Mapping[str, int]) -> ThresholdResult:
    if not missing or result.verdict is Verdict.FAIL:
        return result
    gaps = ", ".join(f"{count} without {what}" for what, count in sorted(missing.items()))
    return ThresholdResult(
        result.threshold,
        Verdict.INCONCLUSIVE,
        result.observed,
        result.samples,
        f"{result.message}; but observations are missing ({gaps}), and missing data never pass",
    )


@dataclass(frozen=True)
class _Case:
    """One gate's observations, ready to judge each of its thresholds."""

    gate: Gate
    observations: Sequence[Observation]
    seconds: float
    warmup: float
    scales: Scales

    def judge(self, threshold: Threshold) -> ThresholdResult:
        gate, observations, seconds = self.gate, self.observations, self.seconds
        spec, n = gate.spec, len(observations)
        where = "" if gate.include_warmup or self.warmup <= 0 else " after warm-up"
        if n == 0:
            return ThresholdResult(
                threshold, Verdict.INCONCLUSIVE, None, 0,
                f"{gate.selector}: no samples{where}, so {threshold} cannot be judged",
            )  # fmt: skip
        broken = _already_broken(spec, threshold, observations, seconds, scales=self.scales)
        if n < gate.min_samples and not broken:
            return ThresholdResult(
                threshold, Verdict.INCONCLUSIVE, None, n,
                f"{gate.selector}: only {n} samples{where}, at least {gate.min_samples} are "
                f"needed to judge {threshold}",
            )  # fmt: skip
        observed = aggregate(spec, threshold, observations, seconds)
        if observed is None:
            return ThresholdResult(
                threshold, Verdict.INCONCLUSIVE, None, n,
                f"{gate.selector}: the run's time window is unknown, so {threshold} cannot be "
                "judged",
            )  # fmt: skip
        holds = threshold.holds(observed, self.scales)
        shown = _shown(observed, threshold, holds, self.scales)
        unit = _unit(spec, threshold)
        verb = "meets" if holds else "breaks"
        return ThresholdResult(
            threshold,
            Verdict.PASS if holds else Verdict.FAIL,
            observed,
            n,
            f"{gate.selector}: {threshold.label} = {shown}{unit} over {n} samples{where}, "
            f"{verb} {threshold}{_scaled_bound(spec, threshold, self.scales)}",
        )


def _scaled_bound(spec: MetricSpec, threshold: Threshold, scales: Scales) -> str:
    """`` (1000 ms at model_scale 0.1)`` for a scaled threshold, else nothing."""
    if threshold.scaled is None:
        return ""
    bound = f"{threshold.bound_ms(scales):.6g}{_unit(spec, threshold)}"
    return f" ({bound} at {threshold.scaled.scale} {scales[threshold.scaled.scale]:g})"


def _already_broken(
    spec: MetricSpec,
    threshold: Threshold,
    observations: Sequence[Observation],
    seconds: float,
    *,
    scales: Scales,
) -> bool:
    """Whether a bound is broken in a way more samples could not mend: a count or a maximum
    only grows and a minimum only falls, so one lost job already breaks ``count == 0``."""
    if not stays_broken(spec, threshold):
        return False
    grows = threshold.aggregation in ("count", "max")
    observed = aggregate(spec, threshold, observations, seconds)
    if observed is None or threshold.holds(observed, scales):
        return False
    bound = threshold.bound_ms(scales)
    return observed >= bound if grows else observed <= bound  # past it, not short of it


def _shown(observed: float, threshold: Threshold, holds: bool, scales: Scales) -> str:
    """``observed`` rounded for a reader, with enough digits not to contradict the verdict."""
    for digits in range(6, 18):
        text = f"{observed:.{digits}g}"
        if threshold.holds(float(text), scales) == holds:
            return text
    return repr(observed)


def _unit(spec: MetricSpec, threshold: Threshold) -> str:
    if spec.kind is MetricKind.COUNTER:
        return f" {spec.unit}/s" if threshold.aggregation == "rate" else f" {spec.unit}"
    if spec.kind is MetricKind.RATE or threshold.aggregation == "count":
        return ""  # a share, or a number of events
    return f" {spec.unit}"
