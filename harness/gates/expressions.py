"""Threshold expressions, k6-like: ``"p(95) < 5000"``, ``"rate >= 0.70"``, ``"count == 0"``.

Grammar (whitespace allowed between tokens)::

    threshold   := aggregation comparator number [unit]
    aggregation := "p(" number ")" | "avg" | "min" | "max" | "med" | "count" | "rate" | "value"
    comparator  := "<" | "<=" | ">" | ">=" | "==" | "!="
    number      := [+-] digits ["." digits] [("e"|"E") [+-] digits]      (finite)
    unit        := "ms" | "s"                (duration metrics only; default: the metric's ms)

``p(N)`` takes N in (0, 100]. Numbers are in the metric's unit (milliseconds for every time);
a ``ms`` or ``s`` suffix may say so explicitly. Errors name the 1-based column of the problem.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Aggregation = Literal["p", "avg", "min", "max", "med", "count", "rate", "value"]
Comparator = Literal["<", "<=", ">", ">=", "==", "!="]
Unit = Literal["ms", "s"]

NAMED_AGGREGATIONS: tuple[Aggregation, ...] = ("avg", "min", "max", "med", "count", "rate", "value")
COMPARATORS: tuple[Comparator, ...] = ("<=", ">=", "==", "!=", "<", ">")  # longest first
UNITS: tuple[Unit, ...] = ("ms", "s")
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


@dataclass(frozen=True)
class Threshold:
    """A parsed threshold; ``percentile`` is set only for ``p(N)``; ``unit`` as written."""

    aggregation: Aggregation
    comparator: Comparator
    value: float
    percentile: float | None = None
    unit: Unit | None = None

    def __post_init__(self) -> None:
        if (self.aggregation == "p") != (self.percentile is not None):
            raise ValueError("a percentile is given exactly when the aggregation is p(N)")
        if self.percentile is not None and not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if not math.isfinite(self.value):
            raise ValueError(f"the bound must be a finite number, got {self.value}")

    @property
    def label(self) -> str:
        """The aggregation as written: ``p(95)``, ``avg``, ..."""
        if self.percentile is not None:
            return f"p({_number(self.percentile)})"
        return self.aggregation

    def bound_ms(self) -> float:
        """The bound in the metric's own unit (seconds converted to milliseconds)."""
        return self.value * 1000 if self.unit == "s" else self.value

    def holds(self, observed: float) -> bool:
        return _COMPARE[self.comparator](observed, self.bound_ms())

    def __str__(self) -> str:
        return f"{self.label} {self.comparator} {_number(self.value)}{self.unit or ''}"


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
        if word.group() not in UNITS:
            raise self.fail(f"unknown unit {word.group()!r}; expected ms or s")
        self.pos = word.end()
        return word.group()  # type: ignore[return-value]  # checked against UNITS above

    def parse(self) -> Threshold:
        self.skip_spaces()
        if self.pos == len(self.text):
            raise self.fail("empty threshold; write e.g. 'p(95) < 5000'")
        aggregation, pct = self.aggregation()
        self.skip_spaces()
        comparator = self.comparator()
        self.skip_spaces()
        value = self.number("number")
        unit = self.unit()
        self.skip_spaces()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.found()} after the threshold")
        return Threshold(aggregation, comparator, value, pct, unit)


_EXPECTED_AGG = "p(N), " + ", ".join(NAMED_AGGREGATIONS)


def parse_threshold(text: str) -> Threshold:
    """Parse ``text``; :class:`ThresholdSyntaxError` says what is wrong and at which column."""
    if not isinstance(text, str):
        raise TypeError(f"a threshold is a string such as 'p(95) < 5000', got {text!r}")
    return _Parser(text).parse()
