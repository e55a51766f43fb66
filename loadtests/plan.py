"""One Locust process's share of a scenario: its stages, pacing, mix and photo stream.

The scenario (``harness.scenario``) is the single source of truth; this module only derives
from its real timeline (:meth:`Scenario.scaled`) what process ``i`` of ``n`` runs: ``1/n`` of
the users (the remainder to the first processes), of the spawn rate and of the arrival rate,
with its arrivals phase-shifted by ``i/n`` so the processes' constant streams interleave, and a
photo stream in its own part of the shared photo id space (:mod:`harness.app.corpus`).

No locust import here.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from harness.app.corpus import PhotoStream
from harness.scenario import ScaledScenario, ScaledStage, Scenario, workload
from harness.scenario.durations import Distribution
from loadtests.pacing import ArrivalSchedule, RateStage, split_count

Model = Literal["closed", "open"]


@dataclass(frozen=True)
class ProcessStage:
    start: float  # seconds after the load started
    end: float
    users: int
    spawn_rate: float
    arrival_rate: float | None  # this process's share (open model)


@dataclass(frozen=True)
class ProcessPlan:
    """What one Locust process runs (all times in real seconds)."""

    scenario: Scenario
    timeline: ScaledScenario
    process: int
    processes: int
    stages: tuple[ProcessStage, ...]

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        process: int = 0,
        processes: int | None = None,
        *,
        time_scale: float | None = None,
    ) -> ProcessPlan:
        if time_scale is not None:
            load = scenario.load.model_copy(update={"time_scale": time_scale})
            scenario = scenario.model_copy(update={"load": load})
        n = processes or scenario.load.locust_processes
        if not 0 <= process < n:
            raise ValueError(f"process must be in [0, {n}), got {process}")
        timeline = scenario.scaled()
        stages = tuple(_share(stage, process, n) for stage in timeline.stages)
        return cls(scenario, timeline, process, n, stages)

    # -- the load model ----------------------------------------------------------------------
    @property
    def model(self) -> Model:
        return self.timeline.stages[0].model

    @property
    def duration(self) -> float:
        return self.timeline.total_duration

    @property
    def open_pool(self) -> int:
        """Users of an open-model process, kept for the whole run: stopping a user mid-run
        could drop the arrival it has already claimed, so the pool does not shrink."""
        return max(stage.users for stage in self.stages)

    @property
    def open_spawn_rate(self) -> float:
        return max(stage.spawn_rate for stage in self.stages)

    def stage_at(self, elapsed: float) -> ProcessStage | None:
        for stage in self.stages:
            if stage.start <= elapsed < stage.end:
                return stage
        return None

    def arrivals(self, start: float, *, process: str = "constant") -> ArrivalSchedule:
        """This process's intended start times from ``start`` (open model only)."""
        if self.model != "open":
            raise ValueError("a closed-model scenario has no arrival schedule")
        return ArrivalSchedule(
            [RateStage(s.end - s.start, s.arrival_rate or 0.0) for s in self.stages],
            start,
            phase=self.process / self.processes,
            process="poisson" if process == "poisson" else "constant",
            seed=self.scenario.seed * 1000 + self.process,
        )

    # -- what users do -----------------------------------------------------------------------
    @property
    def weights(self) -> dict[str, float]:
        return self.scenario.mix.weights()

    @property
    def follow(self) -> str:
        return self.scenario.mix.follow

    @property
    def follow_both(self) -> float:
        return self.scenario.mix.follow_both

    @property
    def abusive(self) -> float:
        """The share of users that abuse the API (loadtests.abuse)."""
        return self.scenario.mix.abusive

    @property
    def abuse_interval(self) -> float:
        """Real seconds between an abusive user's analyses (its rate is in scenario time)."""
        return self.timeline.time_scale / self.scenario.mix.abuse_rate

    @property
    def poll_interval(self) -> float:
        return self.timeline.poll_interval

    @property
    def think_time(self) -> Distribution:
        return self.timeline.think_time

    def photo_seed(self, salt: str = "") -> int:
        """The photo stream's seed: the scenario's, or derived from it and ``salt``.

        The result cache outlives a run on a long-lived stack; salting the photos with the run
        id makes every run start from a cold cache, as the scenario's expected hit ratio
        assumes. The same salt (or none) gives the very same photos again.
        """
        if not salt:
            return self.scenario.seed
        digest = hashlib.blake2b(f"{self.scenario.seed}:{salt}".encode(), digest_size=6)
        return int.from_bytes(digest.digest(), "big")

    def photos_needed(self) -> int:
        """How many photos this process's users will draw, erring high: what a worker renders
        ahead of the load (:meth:`PhotoStream.prepare`; any past it are rendered on demand).

        Each user holds the photo of its next scan from its start, so it draws one more than
        it scans. Scans: the scan share of the honest users' actions; a closed-model user acts
        once at its start and then once per mean think time (action times taken as nothing,
        which errs high), an open-model process once per arrival. A tenth and three standard
        deviations of a Poisson count more cover the draw of the tasks and think times.
        """
        weights = self.weights
        if not weights["scan"]:
            return 0
        share = weights["scan"] / sum(weights.values()) * (1.0 - self.abusive)
        if self.model == "open":
            users = self.open_pool
            actions = sum((s.end - s.start) * (s.arrival_rate or 0.0) for s in self.stages)
        else:
            users = max(stage.users for stage in self.stages)
            actions = self._user_seconds() / _mean(self.think_time) + users
        scans = actions * share
        return math.ceil(1.1 * scans + 3.0 * math.sqrt(scans)) + users

    def _user_seconds(self) -> float:
        """The integral of the closed model's user count over the load (ramps at spawn rate)."""
        total = users = 0.0
        for stage in self.stages:
            duration = stage.end - stage.start
            gap = stage.users - users
            ramp = min(duration, abs(gap) / stage.spawn_rate) if stage.spawn_rate > 0 else 0.0
            reached = users + math.copysign(ramp * stage.spawn_rate, gap) if ramp else users
            if ramp >= duration:  # still ramping at the stage's end
                total += (users + reached) / 2 * duration
            else:
                total += (users + stage.users) / 2 * ramp + stage.users * (duration - ramp)
                reached = stage.users
            users = reached
        return total

    def photo_stream(self, salt: str = "") -> PhotoStream:
        return workload.photo_stream(
            self.scenario.images,
            self.photo_seed(salt),
            process=self.process,
            processes=self.processes,
        )


def _mean(think: Distribution, samples: int = 20_000) -> float:
    """The think time's mean, by sampling it (a generator of its own: nothing else moves)."""
    rng = random.Random("think-mean")
    return max(1e-3, math.fsum(think.sample(rng) for _ in range(samples)) / samples)


def _share(stage: ScaledStage, process: int, processes: int) -> ProcessStage:
    users = split_count(stage.users, process, processes)
    rate = None if stage.arrival_rate is None else stage.arrival_rate / processes
    if rate is not None:
        users = max(users, 1)  # an open process with arrivals needs someone to start them
    return ProcessStage(
        stage.start,
        stage.end,
        users,
        stage.spawn_rate / processes,
        rate,
    )


def integer_weights(weights: dict[str, float], resolution: int = 1000) -> dict[str, int]:
    """Locust wants whole-number task weights: the mix's ratios as the smallest integers (to
    ``1/resolution`` of the largest weight); zero weights are left out."""
    top = max(weights.values())
    ratios = {
        name: Fraction(w / top).limit_denominator(resolution)
        for name, w in weights.items()
        if w > 0
    }
    ratios = {name: r for name, r in ratios.items() if r > 0}
    scale = math.lcm(*(r.denominator for r in ratios.values()))
    return {name: int(r * scale) for name, r in ratios.items()}
