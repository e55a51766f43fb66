"""Threshold expressions: the grammar, its errors (what and which column), format round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.gates import Threshold, ThresholdSyntaxError, parse_threshold
from harness.gates.expressions import COMPARATORS, NAMED_AGGREGATIONS, SCALES, UNITS, ScaledTerm


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p(95) < 5000", Threshold("p", "<", 5000.0, percentile=95.0)),
        ("p(99.9)<=5000", Threshold("p", "<=", 5000.0, percentile=99.9)),
        ("  p ( 50 )  >  1e3 ", Threshold("p", ">", 1000.0, percentile=50.0)),
        ("p(100) != -2.5", Threshold("p", "!=", -2.5, percentile=100.0)),
        ("avg < 200", Threshold("avg", "<", 200.0)),
        ("max <= 100", Threshold("max", "<=", 100.0)),
        ("min >= .5", Threshold("min", ">=", 0.5)),
        ("med > 0", Threshold("med", ">", 0.0)),
        ("rate >= 0.70", Threshold("rate", ">=", 0.7)),
        ("count == 0", Threshold("count", "==", 0.0)),
        ("value < 100", Threshold("value", "<", 100.0)),
        ("p(95) < 5s", Threshold("p", "<", 5.0, percentile=95.0, unit="s")),
        ("p(95) < 5000 ms", Threshold("p", "<", 5000.0, percentile=95.0, unit="ms")),
        (
            "p(95) < 5000 * model_scale + 500",
            Threshold("p", "<", 500.0, 95.0, scaled=ScaledTerm(5000.0, "model_scale")),
        ),
        (
            "p(95)<500ms+5s*model_scale",
            Threshold("p", "<", 500.0, 95.0, "ms", ScaledTerm(5.0, "model_scale", "s")),
        ),
        (
            "max <= 2 s * model_scale",
            Threshold("max", "<=", 0.0, scaled=ScaledTerm(2, "model_scale", "s")),
        ),
    ],
)
def test_parses_the_grammar(text: str, expected: Threshold) -> None:
    assert parse_threshold(text) == expected


def test_seconds_compare_in_milliseconds() -> None:
    assert parse_threshold("p(95) < 5s").holds(4999.0)
    assert not parse_threshold("p(95) < 5s").holds(5000.0)
    assert parse_threshold("p(95) < 5000").holds(4999.0)


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "empty threshold"),
        ("   ", 4, "empty threshold"),
        ("p95 < 5000", 1, "unknown aggregation 'p95'"),
        ("average < 5", 1, "unknown aggregation 'average'"),
        ("< 5", 1, "expected an aggregation"),
        ("p95(< 5", 1, "unknown aggregation 'p95'"),
        ("p 95) < 5", 3, "expected '(' after p"),
        ("p(95 < 5000", 6, "expected ')' after the percentile"),
        ("p() < 5000", 3, "expected a percentile, found ')'"),
        ("p(0) < 5000", 3, "percentile must be in (0, 100], got 0"),
        ("p(100.5) < 5000", 3, "percentile must be in (0, 100], got 100.5"),
        ("p(-1) < 5000", 3, "percentile must be in (0, 100], got -1"),
        ("avg = 5", 5, "(use == to compare)"),
        ("avg 5", 5, "expected a comparator"),
        ("avg =< 5", 5, "expected a comparator"),
        ("avg <", 6, "expected a number, found the end"),
        ("avg < fast", 7, "expected a number, found 'f'"),
        ("avg < nan", 7, "expected a number"),
        ("avg < inf", 7, "expected a number"),
        ("avg < 1e999", 7, "the number '1e999' is too large"),
        ("avg < 1e306 s", 7, "the number 1e+306s is too large in ms"),
        ("avg < 5 + 1e306s * model_scale", 11, "the number 1e+306s is too large in ms"),
        ("avg < 5 minutes", 9, "unknown unit 'minutes'"),
        ("avg < 5 ms ms", 12, "unexpected 'm' after the threshold"),
        ("avg < 5 )", 9, "unexpected ')' after the threshold"),
        ("avg < 5 * ", 11, "expected a scale (model_scale) after '*', found the end"),
        ("avg < 5 * load_scale", 11, "expected a scale (model_scale) after '*', found 'load"),
        ("avg < 5 model_scale", 9, "write '* model_scale' to scale a number"),
        ("avg < 5 +", 10, "expected a number, found the end"),
        ("avg < 5 + 6", 11, "only one term without a scale is allowed"),
        ("avg < 1 * model_scale + 2 * model_scale", 25, "only one scaled term is allowed"),
        ("avg < 5 * model_scale * model_scale", 23, "unexpected '*' after the threshold"),
    ],
)
def test_errors_say_what_and_where(text: str, column: int, reason: str) -> None:
    with pytest.raises(ThresholdSyntaxError) as caught:
        parse_threshold(text)
    assert caught.value.column == column
    assert reason in caught.value.reason
    assert str(caught.value) == f"{text!r}, column {column}: {caught.value.reason}"


def test_a_scaled_bound_takes_the_scenarios_factor() -> None:
    threshold = parse_threshold("p(95) < 5 s * model_scale + 500 ms")
    assert threshold.bound_ms({"model_scale": 0.1}) == pytest.approx(1000.0)
    assert threshold.bound_ms({"model_scale": 1.0}) == pytest.approx(5500.0)
    assert threshold.holds(999.0, {"model_scale": 0.1})
    assert not threshold.holds(1000.0, {"model_scale": 0.1})
    with pytest.raises(ValueError, match="needs the factor model_scale"):
        threshold.bound_ms()
    plain = parse_threshold("p(95) < 5000")
    assert plain.bound_ms() == plain.bound_ms({"model_scale": 0.1}) == 5000.0


def test_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a threshold is a string"):
        parse_threshold(5000)  # type: ignore[arg-type]


def test_a_threshold_cannot_be_built_inconsistent() -> None:
    with pytest.raises(ValueError, match="percentile"):
        Threshold("avg", "<", 1.0, percentile=95.0)
    with pytest.raises(ValueError, match="percentile"):
        Threshold("p", "<", 1.0)
    with pytest.raises(ValueError, match="finite"):
        Threshold("avg", "<", float("inf"))
    with pytest.raises(ValueError, match="finite"):
        ScaledTerm(float("nan"), "model_scale")
    with pytest.raises(ValueError, match="unknown scale 'load_scale'"):
        ScaledTerm(1.0, "load_scale")  # type: ignore[arg-type]


# Bounds a scenario could mean (a sum of two near float max would overflow to inf).
finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
percentiles = st.floats(min_value=0, max_value=100, exclude_min=True, allow_nan=False)


units = st.none() | st.sampled_from(UNITS)
scaled_terms = st.builds(ScaledTerm, finite, st.sampled_from(tuple(SCALES)), units)


@st.composite
def thresholds(draw: st.DrawFn) -> Threshold:
    aggregation = draw(st.sampled_from(("p", *NAMED_AGGREGATIONS)))
    return Threshold(
        aggregation,
        draw(st.sampled_from(COMPARATORS)),
        draw(finite),
        percentile=draw(percentiles) if aggregation == "p" else None,
        unit=draw(units),
        scaled=draw(st.none() | scaled_terms),
    )


@given(thresholds(), st.floats(min_value=0, max_value=100, allow_nan=False))
def test_the_bound_is_the_plain_term_plus_the_scaled_one(
    threshold: Threshold, factor: float
) -> None:
    plain = threshold.value * (1000 if threshold.unit == "s" else 1)
    scaled = threshold.scaled
    extra = 0.0
    if scaled is not None:
        extra = scaled.value * (1000 if scaled.unit == "s" else 1) * factor
    assert threshold.bound_ms({"model_scale": factor}) == pytest.approx(plain + extra)


@given(thresholds())
def test_parse_of_format_is_identity(threshold: Threshold) -> None:
    assert parse_threshold(str(threshold)) == threshold


@given(thresholds(), st.text(alphabet=" \t", max_size=3))
def test_whitespace_between_tokens_does_not_matter(threshold: Threshold, space: str) -> None:
    text = str(threshold).replace(" ", space)
    assert parse_threshold(f"{space}{text}{space}") == threshold


@given(st.text(alphabet="pavgminxdcoutrel()<>=!0123456789.e+- s*_", max_size=24))
def test_any_text_parses_or_fails_with_a_column(text: str) -> None:
    try:
        parsed = parse_threshold(text)
    except ThresholdSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
    else:
        assert parse_threshold(str(parsed)) == parsed
