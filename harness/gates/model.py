"""A gate as a scenario declares it: a metric, an optional tag filter, one or more thresholds.

```toml
[[gates]]
name = "p95 processing time under 5 s"
metric = "processing_time"            # a name from harness.gates.measurements.METRICS
tags = { cache = "miss" }             # optional: only observations carrying these tags
thresholds = ["p(95) < 5000"]         # all must hold; numbers in the metric's unit (ms)
min_samples = 50                      # fewer observations: inconclusive (default 1)
include_warmup = false                # true for correctness gates (lost jobs, wrong answers)
abort_on_fail = false                 # stop the load once broken (bounds that stay broken only)
```

A bound may scale with the scenario's model (``"p(95) < 5000 * model_scale + 500"``) only where
the gate's observations contain the model's latency (:meth:`MetricSpec.includes_model_time`);
the scenario refuses the reverse, an unscaled bound on the model's latency when it scales it.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from harness.gates.expressions import Threshold, ThresholdSyntaxError, parse_threshold
from harness.gates.measurements import AGGREGATIONS, METRICS, MetricKind, MetricSpec


class FieldIssue(ValueError):
    """A validation problem located below the field that raised it (``path`` is relative).

    pydantic keeps the exception in the error's context, so the scenario loader can report
    ``gates[2].thresholds[1]`` instead of just ``gates[2]``.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


def _threshold(value: Any) -> Threshold:
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a threshold is a string such as 'p(95) < 5000', got {value!r}")
    try:
        return parse_threshold(value)
    except ThresholdSyntaxError as exc:
        raise ValueError(str(exc)) from None


def stays_broken(spec: MetricSpec, threshold: Threshold) -> bool:
    """Whether a broken ``threshold`` stays broken however many samples follow: a count or a
    maximum only grows (so an upper bound, or ``count == 0``, once passed is passed for good)
    and a minimum only falls. A counter's total is a sum, but its rate is per second."""
    if spec.kind is MetricKind.COUNTER:
        return False
    if threshold.aggregation in ("count", "max"):
        return threshold.comparator in ("<", "<=", "==")
    if threshold.aggregation == "min":
        return threshold.comparator in (">", ">=", "==")
    return False


ThresholdField = Annotated[
    Threshold,
    PlainValidator(_threshold),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["p(95) < 5000", "rate >= 0.70"]}),
]


class Gate(BaseModel):
    """One gate; its verdict is pass only when every threshold holds on enough samples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    thresholds: tuple[ThresholdField, ...] = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    name: str | None = Field(None, min_length=1)
    min_samples: int = Field(1, ge=1)
    include_warmup: bool = False
    # k6's abortOnFail: the run stops its load as soon as this gate is broken while it runs.
    abort_on_fail: bool = False

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return name

    @model_validator(mode="after")
    def _fits_metric(self) -> Self:
        spec = self.spec
        for key, value in self.tags.items():
            if key not in spec.tags:
                carried = ", ".join(spec.tags) or "no tags"
                raise FieldIssue(
                    ("tags", key), f"{spec.name} observations carry no tag {key!r} ({carried})"
                )
            allowed = spec.tags[key]
            if allowed is not None and value not in allowed:
                raise FieldIssue(
                    ("tags", key), f"{value!r} is not one of {', '.join(sorted(allowed))}"
                )
        for index, threshold in enumerate(self.thresholds):
            usable = AGGREGATIONS[spec.kind]
            if threshold.aggregation not in usable:
                raise FieldIssue(
                    ("thresholds", index),
                    f"{threshold.label} does not apply to {spec.name}, a {spec.kind} metric; "
                    f"use {', '.join(_shown(sorted(usable)))}",
                )
            if threshold.has_units and not spec.is_duration:
                raise FieldIssue(
                    ("thresholds", index),
                    f"{spec.name} is measured in {spec.unit}; a time unit does not apply",
                )
            if self.abort_on_fail and not stays_broken(spec, threshold):
                raise FieldIssue(
                    ("abort_on_fail",),
                    f"only for bounds that stay broken once broken (count or max upper "
                    f"bounds, count == 0, min lower bounds); {threshold} could still mend",
                )
            if threshold.scale is not None:
                self._check_scale(threshold, index)
        return self

    def _check_scale(self, threshold: Threshold, index: int) -> None:
        spec = self.spec
        if not spec.is_duration or threshold.aggregation == "count":
            raise FieldIssue(
                ("thresholds", index),
                f"{threshold.scale} scales times; {threshold.label} of {spec.name} is not one",
            )
        if not spec.includes_model_time(self.tags):
            raise FieldIssue(
                ("thresholds", index),
                f"{self.selector} does not contain the model's latency, so it does not scale "
                f"with {threshold.scale}; write its bound in real ms",
            )

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]

    @property
    def selector(self) -> str:
        """The metric and its tag filter, k6 style: ``queue_wait{queue=q.ai}``."""
        if not self.tags:
            return self.metric
        return f"{self.metric}{{{','.join(f'{k}={v}' for k, v in sorted(self.tags.items()))}}}"

    def judges_model_time(self, threshold: Threshold) -> bool:
        """Whether ``threshold`` bounds a time that contains the model's latency."""
        return threshold.aggregation != "count" and self.spec.includes_model_time(self.tags)

    @property
    def title(self) -> str:
        return self.name or f"{self.selector}: {', '.join(map(str, self.thresholds))}"


def _shown(aggregations: list[str]) -> list[str]:
    return ["p(N)" if agg == "p" else agg for agg in aggregations]
