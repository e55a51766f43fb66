"""Intended start times: the open model's arrival schedule and the closed model's think time."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.mocks.openai_config import FixedLatency
from loadtests.pacing import ArrivalSchedule, Pacer, RateStage, split_count


def drain(schedule: ArrivalSchedule) -> list[float]:
    times = []
    while (t := schedule.claim()) is not None:
        times.append(t)
    return times


def test_constant_arrivals_follow_each_stage_rate() -> None:
    schedule = ArrivalSchedule([RateStage(10, 2.0), RateStage(5, 0.0), RateStage(10, 4.0)], 100.0)
    times = drain(schedule)
    assert len(times) == 20 + 40 == schedule.claimed
    assert times[:3] == [100.0, 100.5, 101.0]
    assert not [t for t in times if 110.0 <= t < 115.0], "a zero-rate stage is a pause"
    assert times[20] == 115.0 and times[21] == 115.25
    assert max(times) < schedule.end == 125.0
    assert schedule.claim() is None


@given(processes=st.integers(1, 8), rate=st.floats(0.5, 50), seconds=st.floats(1, 20))
def test_processes_interleave_into_one_even_stream(
    processes: int, rate: float, seconds: float
) -> None:
    per_process = [
        drain(ArrivalSchedule([RateStage(seconds, rate / processes)], 0.0, phase=i / processes))
        for i in range(processes)
    ]
    merged = sorted(t for times in per_process for t in times)
    expected = [k / rate for k in range(len(merged))]
    assert merged == pytest.approx(expected, abs=1e-6)
    assert abs(len(merged) - rate * seconds) <= processes


def test_poisson_arrivals_keep_the_rate_on_average() -> None:
    schedule = ArrivalSchedule([RateStage(1000, 5.0)], 0.0, process="poisson", seed=3)
    times = drain(schedule)
    assert abs(len(times) - 5000) < 5 * 5000**0.5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) < 0.01 and max(gaps) > 1.0  # irregular, unlike constant pacing


def test_due_counts_arrivals_whether_claimed_or_not() -> None:
    schedule = ArrivalSchedule([RateStage(10, 2.0)], 0.0)
    assert schedule.due(-1) == 0
    assert schedule.due(0) == 1  # the first arrival is due at t=0
    assert schedule.due(2.6) == 6  # 0, 0.5, ..., 2.5
    assert schedule.due(99) == 20 == len(drain(schedule))
    shifted = ArrivalSchedule([RateStage(10, 2.0)], 0.0, phase=0.5)
    assert shifted.due(0.2) == 0 and shifted.due(0.25) == 1 and shifted.due(99) == 20


@pytest.mark.parametrize(
    "stages", [[], [RateStage(0, 1.0)], [RateStage(1, -1.0)], [RateStage(1, float("inf"))]]
)
def test_bad_stages_are_refused(stages: list[RateStage]) -> None:
    with pytest.raises(ValueError):
        ArrivalSchedule(stages, 0.0)


def test_open_pacer_hands_out_schedule_slots_until_closed() -> None:
    schedule = ArrivalSchedule([RateStage(10, 1.0)], 50.0)
    pacer = Pacer("open", 50.0, 60.0, schedule=schedule)
    rng = random.Random(0)
    assert pacer.first(0.0) == 50.0
    # A user that is late still gets the next intended start: its lag is measured from it.
    assert pacer.next(58.0, rng) == 51.0
    assert pacer.behind(55.5) == 6 - 2
    pacer.close()
    assert pacer.next(58.0, rng) is None
    assert not pacer.accepts(52.0)


def test_closed_pacer_adds_think_time_and_stops_at_the_end() -> None:
    pacer = Pacer("closed", 10.0, 20.0, think=FixedLatency(seconds=2.0))
    rng = random.Random(0)
    assert pacer.first(5.0) == 10.0  # nobody starts before the load does
    assert pacer.next(12.0, rng) == 14.0
    assert pacer.next(18.5, rng) is None  # 20.5 is past the end of the load
    assert pacer.accepts(19.9) and not pacer.accepts(20.0) and not pacer.accepts(None)
    assert pacer.behind(15.0) == 0


@given(total=st.integers(0, 10_000), processes=st.integers(1, 64))
def test_split_count_shares_everything(total: int, processes: int) -> None:
    shares = [split_count(total, i, processes) for i in range(processes)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
