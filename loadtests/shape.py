"""The scenario's stages as a Locust load shape (imports locust)."""

from __future__ import annotations

import time

from locust import LoadTestShape

from loadtests.plan import ProcessPlan


class StagesShape(LoadTestShape):
    """Users and spawn rate of one process over the scenario's stages.

    Closed model: each stage's share of users at its spawn rate. Open model: the pool of users
    for the whole run (the arrival schedule, not the user count, sets the pace). After the last
    stage the shape holds the user count: the process's conductor lets flows in flight finish
    and then stops the runner, so no accepted job is cut off by the shape.
    """

    def __init__(self, plan: ProcessPlan, start: float) -> None:
        super().__init__()
        self.plan = plan
        self.load_start = start  # perf_counter() at which the load's t=0 is
        self._last: tuple[int, float] = (0, 1.0)

    def tick(self) -> tuple[int, float]:
        plan = self.plan
        if plan.model == "open":
            self._last = (plan.open_pool, plan.open_spawn_rate)
            return self._last
        stage = plan.stage_at(time.perf_counter() - self.load_start)
        if stage is not None:
            self._last = (stage.users, stage.spawn_rate)
        return self._last
