"""Threshold expressions, k6-like: ``"p(95) < 5000"``, ``"rate >= 0.70"``, ``"count == 0"``.

Grammar (whitespace allowed between tokens)::

    threshold   := aggregation comparator bound
    bound       := term ["+" term]           (at most one plain term and one scaled term)
    term        := number [unit] ["*" scale]
    aggregation := "p(" number ")" | "avg" | "min" | "max" | "med" | "count" | "rate" | "value"
    comparator  := "<" | "<=" | ">" | ">=" | "==" | "!="
    number      := [+-] digits ["." digits] [("e"|"E") [+-] digits]      (finite)
    unit        := "ms" | "s"                (duration metrics only; default: the metric's ms)
    scale       := "model_scale"             (see SCALES)

``p(N)`` takes N in (0, 100]. Numbers are in the metric's unit (milliseconds for every time);
a ``ms`` or ``s`` suffix may say so explicitly. Errors name the 1-based column of the problem.

A scaled term is written at the seed's scale and multiplied by the scenario's factor when the
gate is judged: ``p(95) < 5000 * model_scale + 500`` is the seed's 5 s at the scale of the
scenario's model (``fakes.openai.time_scale``) plus 500 ms that do not scale (the app's poll).
Which metrics a scale may apply to is the gate's and the scenario's business
(:mod:`harness.gates.model`, :mod:`harness.scenario.model`); the grammar only knows the names.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Aggregation = Literal["p", "avg", "min", "max", "med", "count", "rate", "value"]
Comparator = Literal["<", "<=", ">", ">=", "==", "!="]
Unit = Literal["ms", "s"]
Scale = Literal["model_scale"]

NAMED_AGGREGATIONS: tuple[Aggregation, ...] = ("avg", "min", "max", "med", "count", "rate", "value")
COMPARATORS: tuple[Comparator, ...] = ("<=", ">=", "==", "!=", "<", ">")  # longest first
UNITS: tuple[Unit, ...] = ("ms", "s")
# Each scale names the scenario field whose factor it stands for.
SCALES: dict[Scale, str] = {"model_scale": "fakes.openai.time_scale"}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ThresholdSyntaxError(ValueError):
    """A threshold that does not parse; ``column`` is 1-based."""

    def __init__(self, expression: str, column: int, reason: str) -> None:
        self.expression = expression
        self.column = column
        self.reason = reason
        super().__init__(f"{expression!r}, column {column}: {reason}")


def _ms(value: float, unit: Unit | None) -> float:
    return value * 1000 if unit == "s" else value


@dataclass(frozen=True)
class ScaledTerm:
    """``value [unit] * scale``: a bound written at the seed's scale."""

    value: float
    scale: Scale
    unit: Unit | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(_ms(self.value, self.unit)):
            raise ValueError(f"the bound must be a finite number, got {self}")
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; known: {', '.join(SCALES)}")

    def __str__(self) -> str:
        return f"{_number(self.value)}{self.unit or ''} * {self.scale}"


@dataclass(frozen=True)
class Threshold:
    """A parsed threshold; ``percentile`` is set only for ``p(N)``; ``unit`` as written.

    The bound is ``value`` (in ``unit``) plus the ``scaled`` term, if any, times its scale.
    """

    aggregation: Aggregation
    comparator: Comparator
    value: float
    percentile: float | None = None
    unit: Unit | None = None
    scaled: ScaledTerm | None = None

    def __post_init__(self) -> None:
        if (self.aggregation == "p") != (self.percentile is not None):
            raise ValueError("a percentile is given exactly when the aggregation is p(N)")
        if self.percentile is not None and not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if not math.isfinite(_ms(self.value, self.unit)):
            raise ValueError(
                f"the bound must be a finite number, got {self.value}{self.unit or ''}"
            )

    @property
    def label(self) -> str:
        """The aggregation as written: ``p(95)``, ``avg``, ..."""
        if self.percentile is not None:
            return f"p({_number(self.percentile)})"
        return self.aggregation

    @property
    def scale(self) -> Scale | None:
        return None if self.scaled is None else self.scaled.scale

    @property
    def has_units(self) -> bool:
        """Whether a time unit is written anywhere in the bound."""
        return self.unit is not None or (self.scaled is not None and self.scaled.unit is not None)

    def bound_ms(self, scales: Mapping[str, float] | None = None) -> float:
        """The bound in the metric's own unit (seconds converted to milliseconds), its scaled
        term multiplied by its factor in ``scales``."""
        bound = _ms(self.value, self.unit)
        if self.scaled is not None:
            factor = (scales or {}).get(self.scaled.scale)
            if factor is None:
                raise ValueError(f"{self} needs the factor {self.scaled.scale}, none was given")
            bound += _ms(self.scaled.value, self.scaled.unit) * factor
        return bound

    def holds(self, observed: float, scales: Mapping[str, float] | None = None) -> bool:
        return _COMPARE[self.comparator](observed, self.bound_ms(scales))

    def __str__(self) -> str:
        constant = f"{_number(self.value)}{self.unit or ''}"
        if self.scaled is None:
            bound = constant
        elif self.value == 0 and self.unit is None:
            bound = str(self.scaled)
        else:
            bound = f"{self.scaled} + {constant}"
        return f"{self.label} {self.comparator} {bound}"


def _number(value: float) -> str:
    """Shortest text that reads back as exactly ``value``."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str, pos: int | None = None) -> ThresholdSyntaxError:
        return ThresholdSyntaxError(self.text, (self.pos if pos is None else pos) + 1, reason)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def found(self) -> str:
        return repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"

    def number(self, what: str) -> float:
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise self.fail(f"expected a {what}, found {self.found()}")
        value = float(match.group())
        if not math.isfinite(value):
            raise self.fail(f"the {what} {match.group()!r} is too large")
        self.pos = match.end()
        return value

    def aggregation(self) -> tuple[Aggregation, float | None]:
        start = self.pos
        word = _WORD.match(self.text, self.pos)
        if word is None:
            raise self.fail(f"expected an aggregation ({_EXPECTED_AGG}), found {self.found()}")
        name = word.group()
        self.pos = word.end()
        if name == "p":
            self.skip_spaces()
            if self.text[self.pos : self.pos + 1] != "(":
                raise self.fail(f"expected '(' after p, found {self.found()}")
            self.pos += 1
            self.skip_spaces()
            pct_at = self.pos
            pct = self.number("percentile")
            if not 0 < pct <= 100:
                raise self.fail(f"percentile must be in (0, 100], got {_number(pct)}", pct_at)
            self.skip_spaces()
            if self.text[self.pos : self.pos + 1] != ")":
                raise self.fail(f"expected ')' after the percentile, found {self.found()}")
            self.pos += 1
            return "p", pct
        if name not in NAMED_AGGREGATIONS:
            raise self.fail(f"unknown aggregation {name!r}; expected {_EXPECTED_AGG}", start)
        return name, None  # type: ignore[return-value]  # checked against the Literal above

    def comparator(self) -> Comparator:
        for op in COMPARATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        hint = " (use == to compare)" if self.text.startswith("=", self.pos) else ""
        raise self.fail(f"expected a comparator (< <= > >= == !=), found {self.found()}{hint}")

    def unit(self) -> Unit | None:
        before = self.pos
        self.skip_spaces()
        word = _WORD.match(self.text, self.pos)
        if word is None:
            self.pos = before
            return None
        if word.group() in SCALES:
            raise self.fail(f"write '* {word.group()}' to scale a number")
        if word.group() not in UNITS:
            raise self.fail(f"unknown unit {word.group()!r}; expected ms or s")
        self.pos = word.end()
        return word.group()  # type: ignore[return-value]  # checked against UNITS above

    def scale(self) -> Scale | None:
        before = self.pos
        self.skip_spaces()
        if self.text[self.pos : self.pos + 1] != "*":
            self.pos = before
            return None
        self.pos += 1
        self.skip_spaces()
        word = _WORD.match(self.text, self.pos)
        if word is None or word.group() not in SCALES:
            shown = repr(word.group()) if word else self.found()
            raise self.fail(f"expected a scale ({', '.join(SCALES)}) after '*', found {shown}")
        self.pos = word.end()
        return word.group()  # type: ignore[return-value]  # checked against SCALES above

    def term(self) -> tuple[float, Unit | None, Scale | None, int]:
        self.skip_spaces()
        at = self.pos
        value = self.number("number")
        unit = self.unit()
        if not math.isfinite(_ms(value, unit)):  # 1e306 is finite; 1e306 s in ms is not
            raise self.fail(f"the number {_number(value)}{unit} is too large in ms", at)
        return value, unit, self.scale(), at

    def bound(self) -> tuple[float, Unit | None, ScaledTerm | None]:
        value, unit, scaled = 0.0, None, None
        plain_seen = False
        while True:
            number, term_unit, scale, at = self.term()
            if scale is not None:
                if scaled is not None:
                    raise self.fail("only one scaled term is allowed", at)
                scaled = ScaledTerm(number, scale, term_unit)
            else:
                if plain_seen:
                    raise self.fail("only one term without a scale is allowed", at)
                plain_seen = True
                value, unit = number, term_unit
            self.skip_spaces()
            if self.text[self.pos : self.pos + 1] != "+":
                return value, unit, scaled
            self.pos += 1

    def parse(self) -> Threshold:
        self.skip_spaces()
        if self.pos == len(self.text):
            raise self.fail("empty threshold; write e.g. 'p(95) < 5000'")
        aggregation, pct = self.aggregation()
        self.skip_spaces()
        comparator = self.comparator()
        value, unit, scaled = self.bound()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.found()} after the threshold")
        return Threshold(aggregation, comparator, value, pct, unit, scaled)


_EXPECTED_AGG = "p(N), " + ", ".join(NAMED_AGGREGATIONS)


def parse_threshold(text: str) -> Threshold:
    """Parse ``text``; :class:`ThresholdSyntaxError` says what is wrong and at which column."""
    if not isinstance(text, str):
        raise TypeError(f"a threshold is a string such as 'p(95) < 5000', got {text!r}")
    return _Parser(text).parse()
