"""Evaluation: exact percentiles, every aggregation, verdict rules, messages and exit codes."""

from __future__ import annotations

import statistics
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.gates import (
    EXIT_FAIL,
    EXIT_HARNESS_ERROR,
    EXIT_PASS,
    Gate,
    Verdict,
    combine,
    evaluate,
    exit_code,
    percentile,
)
from harness.gates.measurements import Samples

P, F, INC = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE


def gate(metric: str, *thresholds: str, **fields: object) -> Gate:
    return Gate.model_validate({"metric": metric, "thresholds": thresholds, **fields})


def samples_of(metric: str, values: list[float], **tags: str) -> Samples:
    samples = Samples(start=0.0, end=float(len(values)))
    for index, value in enumerate(values):
        samples.record(metric, value, t=float(index), tags=tags)
    return samples


# -- percentiles ---------------------------------------------------------------------------


def brute_force_percentile(values: list[float], pct: Fraction) -> Fraction:
    """The piecewise-linear curve through (i / (n - 1), i-th smallest), read at pct / 100."""
    ordered = [Fraction(v) for v in sorted(values)]
    if len(ordered) == 1:
        return ordered[0]
    target = pct / 100
    for i in range(len(ordered) - 1):
        left, right = Fraction(i, len(ordered) - 1), Fraction(i + 1, len(ordered) - 1)
        if left <= target <= right:
            share = (target - left) / (right - left)
            return ordered[i] + (ordered[i + 1] - ordered[i]) * share
    raise AssertionError("unreachable")


values_lists = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=60
)


@given(values_lists, st.integers(min_value=1, max_value=1000))
def test_percentile_matches_brute_force(values: list[float], per_mille: int) -> None:
    pct = Fraction(per_mille, 10)
    expected = float(brute_force_percentile(values, pct))
    assert percentile(values, float(pct)) == pytest.approx(expected, rel=1e-12, abs=1e-9)


@given(values_lists.filter(lambda v: len(v) >= 2), st.integers(min_value=1, max_value=99))
def test_percentile_matches_the_standard_library(values: list[float], pct: int) -> None:
    expected = statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
    assert percentile(values, pct) == pytest.approx(expected, rel=1e-12, abs=1e-9)


@given(values_lists)
def test_percentile_ends_and_median(values: list[float]) -> None:
    assert percentile(values, 100) == max(values)
    assert percentile(values, 50) == pytest.approx(statistics.median(values), rel=1e-12, abs=1e-9)


def test_percentile_is_exact_not_bucketed() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100 ms
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([4999.4, 5000.6], 50) == 5000.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([], 95) != percentile([], 95)  # NaN for no values


# -- aggregations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "observed"),
    [
        ("p(50) == 3", 3.0),
        ("med == 3", 3.0),
        ("avg == 3", 3.0),
        ("min == 1", 1.0),
        ("max == 5", 5.0),
        ("count == 5", 5.0),
        ("p(100) == 5", 5.0),
        ("p(25) == 2", 2.0),
    ],
)
def test_trend_aggregations(threshold: str, observed: float) -> None:
    result = evaluate(
        [gate("processing_time", threshold)], samples_of("processing_time", [5, 1, 4, 2, 3])
    )
    (judged,) = result.gates[0].thresholds
    assert judged.observed == observed and judged.verdict is P


def test_gauge_value_is_the_latest_sample() -> None:
    samples = Samples(start=0.0)
    for t, depth in ((1.0, 5.0), (3.0, 2.0), (2.0, 9.0)):
        samples.record("dlq_length", depth, t=t)
    result = evaluate([gate("dlq_length", "value == 2", "max == 9", "avg > 5")], samples)
    assert [r.observed for r in result.gates[0].thresholds] == [2.0, 9.0, 16 / 3]
    assert result.verdict is P


def test_rate_and_count_of_a_rate_metric() -> None:
    result = evaluate(
        [gate("cache_hit_ratio", "rate == 0.75", "count == 3")],
        samples_of("cache_hit_ratio", [1, 0, 1, 1]),
    )
    assert [r.observed for r in result.gates[0].thresholds] == [0.75, 3.0]


def test_counter_count_and_rate_per_second_of_the_window() -> None:
    samples = Samples(start=100.0, end=110.0)
    for t in (101.0, 105.0, 109.0):
        samples.increment("batch_published", 5, t=t)
    result = evaluate([gate("batch_published", "count == 15", "rate == 1.5")], samples)
    assert [r.observed for r in result.gates[0].thresholds] == [15.0, 1.5]
    assert "rate = 1.5 tasks/s over 3 samples" in result.gates[0].thresholds[1].message


def test_counter_rate_without_a_window_is_inconclusive() -> None:
    samples = Samples()
    samples.increment("batch_published", 5, t=1.0)
    result = evaluate([gate("batch_published", "rate > 1")], samples)
    assert result.verdict is INC
    assert "time window is unknown" in result.gates[0].message


def test_tag_filter_selects_observations() -> None:
    samples = Samples(start=0.0)
    samples.record("queue_wait", 10.0, t=1.0, tags={"queue": "q.ai"})
    samples.record("queue_wait", 90_000.0, t=1.0, tags={"queue": "q.batch"})
    ai = gate("queue_wait", "max < 1000", tags={"queue": "q.ai"})
    everything = gate("queue_wait", "max < 1000")
    result = evaluate([ai, everything], samples)
    assert [g.verdict for g in result.gates] == [P, F]
    assert result.gates[0].message.startswith("queue_wait{queue=q.ai}: max = 10 ms")


# -- verdicts, messages, exit codes ----------------------------------------------------------


def test_pass_fail_and_inconclusive_messages() -> None:
    values = [float(v) for v in range(100, 4100, 100)]  # 40 values, 100..4000 ms
    samples = samples_of("processing_time", values)
    passing = gate("processing_time", "p(95) < 5000", min_samples=20)
    failing = gate("processing_time", "p(95) < 3000", min_samples=20)
    starved = gate("processing_time", "p(95) < 5000", min_samples=41)
    empty = gate("processing_time", "p(95) < 5000", tags={"cache": "hit"})
    result = evaluate([passing, failing, starved, empty], samples)
    assert [g.verdict for g in result.gates] == [P, F, INC, INC]
    assert [g.message for g in result.gates] == [
        "processing_time: p(95) = 3805 ms over 40 samples, meets p(95) < 5000",
        "processing_time: p(95) = 3805 ms over 40 samples, breaks p(95) < 3000",
        "processing_time: only 40 samples, at least 41 are needed to judge p(95) < 5000",
        "processing_time{cache=hit}: no samples, so p(95) < 5000 cannot be judged",
    ]
    assert result.gates[0].thresholds[0].observed == pytest.approx(3805.0)
    assert result.gates[2].thresholds[0].observed is None


@pytest.mark.parametrize(
    ("metric", "values", "threshold", "verdict"),
    [
        ("lost_jobs", [0, 0, 1], "count == 0", F),  # one lost job is lost whatever follows
        ("lost_jobs", [0, 0, 0], "count == 0", INC),  # no loss yet: too few to say
        ("lost_jobs", [1, 1, 0], "count == 5", INC),  # short of the bound: it can still grow
        ("dlq_length", [3, 150, 7], "max <= 100", F),  # a maximum only grows
        ("dlq_length", [3, 50, 7], "max <= 100", INC),
        ("queue_depth", [5, 2, 9], "min >= 3", F),  # a minimum only falls
        ("processing_time", [9000, 9000, 9000], "p(95) < 5000", INC),  # a percentile can move
        ("cache_hit_ratio", [0, 0, 0], "rate >= 0.7", INC),  # so can a rate
    ],
)
def test_a_bound_already_broken_beyond_mending_fails_even_with_few_samples(
    metric: str, values: list[float], threshold: str, verdict: Verdict
) -> None:
    result = evaluate([gate(metric, threshold, min_samples=10)], samples_of(metric, values))
    assert result.gates[0].verdict is verdict, result.gates[0].message


def test_shown_value_never_contradicts_the_verdict() -> None:
    ratio = samples_of("cache_hit_ratio", [1] * 6 + [0] * 3)
    result = evaluate([gate("cache_hit_ratio", "rate >= 0.7")], ratio)
    assert result.gates[0].verdict is F
    assert "rate = 0.666667 over 9 samples, breaks rate >= 0.7" in result.gates[0].message
    # 4999.9996 rounds to 5000 at six digits, which would contradict a pass of "< 4999.9999"
    samples = samples_of("processing_time", [4999.9996])
    (judged,) = evaluate([gate("processing_time", "max < 4999.9999")], samples).gates
    assert judged.verdict is P
    assert "max = 4999.9996 ms over 1 samples, meets" in judged.message


def test_warmup_is_left_out_unless_the_gate_includes_it() -> None:
    samples = Samples(start=1000.0, end=1100.0)
    samples.record_event("lost_jobs", True, t=1005.0)  # lost during warm-up
    for t in range(1020, 1100):
        samples.record_event("lost_jobs", False, t=float(t))
    measured = gate("lost_jobs", "count == 0")
    everything = gate("lost_jobs", "count == 0", include_warmup=True)
    result = evaluate([measured, everything], samples, warmup=10.0)
    assert [g.verdict for g in result.gates] == [P, F]
    assert "over 80 samples after warm-up" in result.gates[0].message
    assert "over 81 samples, breaks" in result.gates[1].message


def test_a_threshold_in_seconds_reads_ms_values() -> None:
    result = evaluate(
        [gate("processing_time", "p(95) < 5s")], samples_of("processing_time", [4000.0])
    )
    assert result.verdict is P
    assert "p(95) = 4000 ms over 1 samples, meets p(95) < 5s" in result.gates[0].message


@pytest.mark.parametrize(
    ("verdicts", "overall"),
    [
        ([P, P], P),
        ([P, F], F),
        ([INC, F], F),
        ([P, INC], INC),
        ([INC], INC),
        ([], INC),
    ],
)
def test_combine(verdicts: list[Verdict], overall: Verdict) -> None:
    assert combine(verdicts) is overall


def test_a_gate_fails_when_any_threshold_fails() -> None:
    samples = samples_of("queue_wait", [10.0] * 99 + [9000.0], queue="q.ai")
    result = evaluate([gate("queue_wait", "p(95) < 1000", "max < 5000")], samples)
    assert [t.verdict for t in result.gates[0].thresholds] == [P, F]
    assert result.gates[0].verdict is F and result.verdict is F


def test_no_gates_is_inconclusive() -> None:
    assert evaluate([], Samples()).verdict is INC


def test_exit_codes() -> None:
    assert (EXIT_PASS, EXIT_FAIL, EXIT_HARNESS_ERROR) == (0, 1, 2)
    assert exit_code(P) == 0
    assert exit_code(F) == 1
    assert exit_code(INC) == 1
    assert exit_code(INC, inconclusive_ok=True) == 0
    assert exit_code(F, inconclusive_ok=True) == 1


def test_evaluation_as_a_dict_for_the_report() -> None:
    result = evaluate(
        [gate("processing_time", "p(95) < 5000", name="p95 under 5 s")],
        samples_of("processing_time", [100.0, 200.0]),
    )
    assert result.to_dict() == {
        "verdict": "pass",
        "gates": [
            {
                "name": "p95 under 5 s",
                "metric": "processing_time",
                "tags": {},
                "unit": "ms",
                "verdict": "pass",
                "samples": 2,
                "min_samples": 1,
                "missing": {},
                "thresholds": [
                    {
                        "expression": "p(95) < 5000",
                        "verdict": "pass",
                        "observed": pytest.approx(195.0),
                        "message": "processing_time: p(95) = 195 ms over 2 samples, "
                        "meets p(95) < 5000",
                    }
                ],
            }
        ],
    }
    assert result.exit_code() == 0


# -- the gate model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "latency"}, "unknown metric 'latency'; known: processing_time"),
        ({"thresholds": []}, "at least 1 item"),
        ({"thresholds": ["p95 < 5"]}, "'p95 < 5', column 1: unknown aggregation 'p95'"),
        ({"thresholds": ["rate < 0.1"]}, "rate does not apply to processing_time, a trend metric"),
        ({"metric": "error_ratio", "thresholds": ["p(95) < 1"]}, "p(95) does not apply"),
        ({"metric": "error_ratio", "thresholds": ["rate < 1s"]}, "measured in ratio"),
        ({"metric": "queue_depth", "thresholds": ["max < 5 ms"]}, "measured in messages"),
        ({"tags": {"queue": "q.ai"}}, "processing_time observations carry no tag 'queue'"),
        ({"metric": "queue_wait", "tags": {"queue": "q.aii"}}, "'q.aii' is not one of q.ai, q.api"),
        ({"min_samples": 0}, "greater than or equal to 1"),
        ({"abort_on_fail": True}, "p(95) < 5000 could still mend"),
        ({"metric": "lost_jobs", "thresholds": ["rate < 0.01"], "abort_on_fail": True}, "mend"),
        ({"metric": "dlq_length", "thresholds": ["max >= 3"], "abort_on_fail": True}, "mend"),
        ({"metric": "batch_published", "thresholds": ["count < 9"], "abort_on_fail": True}, "mend"),
        ({"aborts_on_fail": True}, "Extra inputs are not permitted"),
    ],
)
def test_gate_model_refuses(fields: dict[str, object], message: str) -> None:
    data = {"metric": "processing_time", "thresholds": ["p(95) < 5000"], **fields}
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Gate.model_validate(data)


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [
        ("lost_jobs", "count == 0"),
        ("wrong_answers", "count <= 2"),
        ("dlq_length", "max <= 100"),
        ("redis_clients", "max < 200"),
        ("queue_depth", "min > 0"),
    ],
)
def test_abort_on_fail_is_accepted_on_bounds_that_stay_broken(metric: str, threshold: str) -> None:
    assert Gate.model_validate(
        {"metric": metric, "thresholds": [threshold], "abort_on_fail": True}
    ).abort_on_fail


def test_gate_titles() -> None:
    plain = gate(
        "queue_wait", "p(95) < 1000", "max < 5s", tags={"task": "image.analyze", "queue": "q.ai"}
    )
    assert plain.selector == "queue_wait{queue=q.ai,task=image.analyze}"
    assert plain.title == "queue_wait{queue=q.ai,task=image.analyze}: p(95) < 1000, max < 5s"
    assert gate("lost_jobs", "count == 0", name="no job lost").title == "no job lost"
    assert plain.model_dump()["thresholds"] == ("p(95) < 1000", "max < 5s")


def test_a_metric_marked_unavailable_is_inconclusive_whatever_was_recorded() -> None:
    samples = Samples(start=0.0, end=10.0)
    for second in range(10):
        samples.record("queue_depth", 5, t=float(second), tags={"queue": "q.batch"})
        samples.record("queue_depth", 0, t=float(second), tags={"queue": "q.ai"})
    samples.mark_unavailable("queue_depth", "a gap at 4 s", tags={"queue": "q.batch"})
    batch = Gate(metric="queue_depth", tags={"queue": "q.batch"}, thresholds=("max >= 3",))
    ai = Gate(metric="queue_depth", tags={"queue": "q.ai"}, thresholds=("max <= 1",))
    every = Gate(metric="queue_depth", thresholds=("max <= 100",))
    judged = evaluate([batch, ai, every], samples)
    verdicts = [result.verdict for result in judged.gates]
    assert verdicts == [Verdict.INCONCLUSIVE, Verdict.PASS, Verdict.INCONCLUSIVE]
    assert "a gap at 4 s" in judged.gates[0].message
    assert judged.exit_code() == 1 and judged.exit_code(inconclusive_ok=True) == 0


# -- scaled bounds and missing data --------------------------------------------------------


def test_a_scaled_bound_is_judged_at_the_scenarios_scale() -> None:
    seed_target = gate("processing_time", "p(95) < 5000 * model_scale + 500")
    samples = samples_of("processing_time", [630.0] * 20)
    at_smoke = evaluate([seed_target], samples, scales={"model_scale": 0.1})
    assert at_smoke.verdict is P
    assert at_smoke.gates[0].message == (
        "processing_time: p(95) = 630 ms over 20 samples, meets "
        "p(95) < 5000 * model_scale + 500 (1000 ms at model_scale 0.1)"
    )
    slower = samples_of("processing_time", [1630.0] * 20)
    assert evaluate([seed_target], slower, scales={"model_scale": 0.1}).verdict is F
    assert evaluate([seed_target], slower, scales={"model_scale": 1.0}).verdict is P


def test_a_scaled_max_is_already_broken_below_min_samples() -> None:
    bounded = gate("processing_time", "max < 1 s * model_scale", min_samples=50)
    result = evaluate(
        [bounded], samples_of("processing_time", [50.0, 400.0]), scales={"model_scale": 0.2}
    )
    assert result.verdict is F  # 400 ms is past 200 ms already; more samples cannot mend it


@given(
    st.lists(st.floats(min_value=0, max_value=10_000), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=5),
)
def test_missing_data_never_pass(values: list[float], gaps: int) -> None:
    samples = samples_of("stack_overhead", values, cache="miss")
    for index in range(gaps):
        samples.record_missing("stack_overhead", "model_ms", t=float(index), tags={"cache": "miss"})
    lenient = gate("stack_overhead", "p(95) < 20000", "max >= 0")
    result = evaluate([lenient], samples).gates[0]
    assert result.verdict is INC
    assert result.missing == {"model_ms": gaps}
    assert f"observations are missing ({gaps} without model_ms)" in result.message
    assert result.to_dict()["missing"] == {"model_ms": gaps}
    strict = gate("stack_overhead", "max < 0")  # broken whatever the missing ones say
    assert evaluate([strict], samples).verdict is F


def test_missing_data_count_only_where_the_gate_looks() -> None:
    samples = samples_of("stage_time", [10.0] * 5, stage="download", cache="hit")
    samples.record_missing("stage_time", "server_store_ms", t=1.0, tags={"stage": "store"})
    samples.record_missing("stage_time", "server_download_ms", t=9.0, tags={"stage": "download"})
    download = gate("stage_time", "p(95) < 100", tags={"stage": "download"})
    assert evaluate([download], samples).verdict is INC  # its own gap
    assert evaluate([download], samples.window(end=5.0)).verdict is P  # gap outside the window
    store = gate("stage_time", "p(95) < 100", tags={"stage": "store"})
    result = evaluate([store], samples).gates[0]
    assert result.verdict is INC and result.samples == 0
    assert "no samples" in result.message and "1 without server_store_ms" in result.message
