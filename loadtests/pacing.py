"""When each action is *meant* to start, so latency is measured without coordinated omission.

Open model (arrival rates): :class:`ArrivalSchedule` lays out the intended start times of one
process from its stages of rates, independent of how fast the system answers. A free user
claims the earliest unclaimed start; when every user is busy the starts fall behind schedule,
and the end-to-end time of a scan is measured from its intended start, so a slow system (or a
load generator with too few users) shows up as latency instead of silently lowering the rate.

Closed model (users): a user's next intended start is the end of its previous action plus the
think time it drew; the actual start is recorded beside it, so a saturated load generator (a
late wake-up) is visible too.

Times here are on one monotonic clock (``time.perf_counter``); :class:`Clock` converts to the
epoch seconds written to the CSV files.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ArrivalProcess = Literal["constant", "poisson"]


@dataclass(frozen=True)
class Clock:
    """Maps the monotonic clock to epoch seconds (one anchor per process)."""

    epoch0: float
    perf0: float

    @classmethod
    def now(cls) -> Clock:
        return cls(time.time(), time.perf_counter())

    def epoch(self, perf: float) -> float:
        return self.epoch0 + (perf - self.perf0)

    def perf(self, epoch: float) -> float:
        return self.perf0 + (epoch - self.epoch0)


@dataclass(frozen=True)
class RateStage:
    duration: float  # seconds
    rate: float  # arrivals per second (>= 0)


class ArrivalSchedule:
    """Intended start times of one process's arrivals over stages of constant rate.

    Arrival ``k`` (from 0) is due when the expected count ``L(t) = integral of rate`` reaches
    ``k + phase`` (constant pacing) or the ``k``-th point of a unit-rate Poisson process shifted
    by ``phase`` (poisson), with ``t`` counted from ``start``. ``phase`` in ``[0, 1)`` staggers
    processes: process ``i`` of ``n`` uses ``i / n`` so their constant streams interleave evenly.
    """

    def __init__(
        self,
        stages: Sequence[RateStage],
        start: float,
        *,
        phase: float = 0.0,
        process: ArrivalProcess = "constant",
        seed: int = 0,
    ) -> None:
        if not stages:
            raise ValueError("an arrival schedule needs at least one stage")
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"phase must be in [0, 1), got {phase}")
        if any(s.duration <= 0 or s.rate < 0 or not math.isfinite(s.rate) for s in stages):
            raise ValueError("stages need a positive duration and a finite rate >= 0")
        self.start = start
        self.stages = tuple(stages)
        self.process = process
        self._rng = random.Random(f"arrivals:{seed}")
        self._offsets: list[float] = []  # stage start, seconds from start
        self._counts: list[float] = []  # expected arrivals before the stage
        elapsed = count = 0.0
        for stage in self.stages:
            self._offsets.append(elapsed)
            self._counts.append(count)
            elapsed += stage.duration
            count += stage.duration * stage.rate
        self.duration = elapsed
        self.expected_total = count
        self._phase = phase
        self._position = phase  # the next arrival's value of L
        self.claimed = 0
        self.exhausted = False

    @property
    def end(self) -> float:
        return self.start + self.duration

    def _time_of(self, position: float) -> float | None:
        """Seconds from start at which ``L`` reaches ``position``; None past the last stage."""
        if position >= self.expected_total:
            return None
        # The last stage whose count is <= position; zero-rate stages share their count with
        # the stage after them, so bisect_right lands past them on a stage with a rate.
        index = bisect.bisect_right(self._counts, position) - 1
        stage = self.stages[index]
        return self._offsets[index] + (position - self._counts[index]) / stage.rate

    def claim(self) -> float | None:
        """The next intended start (monotonic clock), or None when the schedule is over."""
        if self.exhausted:
            return None
        offset = self._time_of(self._position)
        if offset is None:
            self.exhausted = True
            return None
        self.claimed += 1
        self._position += 1.0 if self.process == "constant" else self._rng.expovariate(1.0)
        return self.start + offset

    def due(self, now: float) -> int:
        """How many arrivals were due by ``now``, claimed or not (for poisson: expected)."""
        elapsed = min(now - self.start, self.duration)
        if elapsed < 0:
            return 0
        index = max(0, bisect.bisect_right(self._offsets, elapsed) - 1)
        stage = self.stages[index]
        count = self._counts[index] + (elapsed - self._offsets[index]) * stage.rate
        if count < self._phase:
            return 0
        last = math.ceil(self.expected_total - self._phase)  # arrivals in the whole schedule
        return min(math.floor(count - self._phase) + 1, last)


def split_count(total: int, process: int, processes: int) -> int:
    """Process ``process``'s share of ``total`` (the remainder goes to the first processes)."""
    base, extra = divmod(total, processes)
    return base + (1 if process < extra else 0)


class Pacer:
    """When each user's next action is meant to start, for the process's load model.

    Open model: every start is claimed from the process's :class:`ArrivalSchedule`. Closed
    model: the next start is the end of the previous action plus a think time. Either way
    nothing is due at or after ``end`` (the end of the load) or once :meth:`close` is called.
    """

    def __init__(
        self,
        model: Literal["closed", "open"],
        start: float,
        end: float,
        *,
        schedule: ArrivalSchedule | None = None,
        think: ThinkTime | None = None,
    ) -> None:
        if model == "open" and schedule is None:
            raise ValueError("the open model needs an arrival schedule")
        self.model = model
        self.start = start
        self.end = end
        self.schedule = schedule
        self.think = think
        self.closed = False

    def first(self, now: float) -> float | None:
        """The first intended start of a user that is ready at ``now``."""
        if self.model == "open":
            return self._claim()
        return max(now, self.start) if self._open_at(max(now, self.start)) else None

    def next(self, now: float, rng: random.Random) -> float | None:
        """The next intended start of a user whose action ended at ``now``."""
        if self.model == "open":
            return self._claim()
        due = now + (self.think.sample(rng) if self.think is not None else 0.0)
        return due if self._open_at(due) else None

    def accepts(self, due: float | None) -> bool:
        """Whether an action meant to start at ``due`` may still start."""
        return due is not None and self._open_at(due)

    def close(self) -> None:
        self.closed = True

    def behind(self, now: float) -> int:
        """Arrivals due by ``now`` that no user has claimed yet (open model; else 0)."""
        if self.schedule is None:
            return 0
        return max(0, self.schedule.due(now) - self.schedule.claimed)

    def _claim(self) -> float | None:
        assert self.schedule is not None
        due = None if self.closed else self.schedule.claim()
        return due if due is not None and self._open_at(due) else None

    def _open_at(self, due: float) -> bool:
        return not self.closed and due < self.end


class ThinkTime(Protocol):
    def sample(self, rng: random.Random) -> float: ...
