"""Durations in scenario files, and scaling a time distribution by the scenario's time scale.

A duration is a number of seconds (``90``, ``0.5``) or a string with units (``"90s"``, ``"5m"``,
``"1m30s"``, ``"250ms"``, ``"1h"``); it is stored as float seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from harness.mocks.openai_config import FixedLatency, Latency, LognormalLatency, UniformLatency

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``"1m30s"``-style text; anything else is left to the field's own checks."""
    if not isinstance(value, str):
        return value
    text = value.replace(" ", "")
    parts = list(_PART.finditer(text))
    if not text or "".join(part.group() for part in parts) != text:
        raise ValueError(
            f"{value!r} is not a duration; write seconds as a number, or text such as "
            "'90s', '5m', '1m30s', '250ms'"
        )
    return sum(float(part.group(1)) * _FACTORS[part.group(2)] for part in parts)


Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration field: number of seconds or text with units (see :func:`parse_duration`)."""

Distribution = Latency
"""A distribution of seconds (think times, fake latencies): uniform, lognormal or fixed.

The latency models of the mock OpenAI server, reused so that there is one definition::

    { kind = "uniform", low = 1, high = 3 }
    { kind = "lognormal", median = 3, sigma = 0.35, cap = 30 }
    { kind = "fixed", seconds = 0.5 }
"""


def scale_distribution(dist: Distribution, factor: float) -> Distribution:
    """The same distribution with every time multiplied by ``factor`` (shape kept)."""
    if isinstance(dist, UniformLatency):
        return dist.model_copy(update={"low": dist.low * factor, "high": dist.high * factor})
    if isinstance(dist, LognormalLatency):
        return dist.model_copy(update={"median": dist.median * factor, "cap": dist.cap * factor})
    if isinstance(dist, FixedLatency):
        return dist.model_copy(update={"seconds": dist.seconds * factor})
    raise TypeError(f"not a distribution: {dist!r}")
