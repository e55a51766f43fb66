"""A scenario's real timeline, after ``load.time_scale``: what the Locust load shape follows.

All times are real seconds since the load started. Durations (stages, warm-up, think time, flow
timeout, batch start and work) are multiplied by the time scale; spawn rates divided by it so a
ramp keeps its share of the stage; arrival and batch rates are real per-second rates and stay as
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from harness.scenario.durations import Distribution, scale_distribution

if TYPE_CHECKING:
    from harness.scenario.model import Scenario


@dataclass(frozen=True)
class ScaledStage:
    """One stage on the real timeline; ``users`` is the pool of Locust users it runs."""

    index: int
    start: float
    end: float
    model: Literal["closed", "open"]
    users: int
    spawn_rate: float
    arrival_rate: float | None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ScaledBatch:
    """The background q.batch flood on the real timeline."""

    task: str
    rate: float | None
    burst: int | None
    start: float
    work_seconds: float


@dataclass(frozen=True)
class ScaledScenario:
    time_scale: float
    stages: tuple[ScaledStage, ...]
    warmup: float
    total_duration: float
    think_time: Distribution
    poll_interval: float
    batch: ScaledBatch | None
    flow_timeout: float | None = None

    @classmethod
    def of(cls, scenario: Scenario) -> ScaledScenario:
        load = scenario.load
        scale = load.time_scale
        stages: list[ScaledStage] = []
        clock = 0.0
        for index, stage in enumerate(load.stages):
            end = clock + stage.duration * scale
            pool = stage.pool_size
            # An open stage without a spawn rate starts its whole pool within a second.
            spawn = stage.spawn_rate / scale if stage.spawn_rate is not None else float(pool)
            stages.append(
                ScaledStage(index, clock, end, stage.model, pool, spawn, stage.arrival_rate)
            )
            clock = end
        flood = scenario.background.batch
        batch = None
        if flood is not None:
            batch = ScaledBatch(
                flood.task, flood.rate, flood.burst, flood.start * scale, flood.work_seconds * scale
            )
        return cls(
            time_scale=scale,
            stages=tuple(stages),
            warmup=load.warmup * scale,
            total_duration=clock,
            think_time=scale_distribution(scenario.mix.think_time, scale),
            poll_interval=scenario.mix.poll_interval,
            batch=batch,
            flow_timeout=None if load.flow_timeout is None else load.flow_timeout * scale,
        )

    def stage_at(self, elapsed: float) -> ScaledStage | None:
        """The stage running ``elapsed`` seconds after the start; None once the run is over."""
        for stage in self.stages:
            if stage.start <= elapsed < stage.end:
                return stage
        return None

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        """What a Locust ``LoadTestShape.tick()`` returns: (users, spawn rate), None to stop."""
        stage = self.stage_at(elapsed)
        return None if stage is None else (stage.users, stage.spawn_rate)

    def arrival_rate_at(self, elapsed: float) -> float | None:
        """Iterations per second the users together must start (open model), else None."""
        stage = self.stage_at(elapsed)
        return None if stage is None else stage.arrival_rate

    @property
    def measured(self) -> tuple[float, float]:
        """The part the gates judge: from the end of warm-up to the end of the load."""
        return (self.warmup, self.total_duration)
