"""Where a job's time goes on the server: the stages the AI worker times, in flow order.

``queue_wait`` (queued to started) comes from the job's timestamps; the worker times the
others with a :class:`StageTimer` and stores them with the job, so every result says where its
processing time went (``timings`` of ``GET /result``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES: tuple[str, ...] = ("queue_wait", "download", "cache_lookup", "model", "store")
TIMED_STAGES: tuple[str, ...] = STAGES[1:]


class StageTimer:
    """Milliseconds per stage of one delivery; a stage entered twice adds up (retries)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in TIMED_STAGES:
            raise ValueError(f"unknown stage {name!r}; known: {', '.join(TIMED_STAGES)}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - started) * 1000
