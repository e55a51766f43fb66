"""Runs every collector on an interval in a background thread during the load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness.collect.series import Point, Series, point

Collector = Callable[[], list[Point]]


class Sampler:
    def __init__(self, collectors: dict[str, Collector], series: Series, interval: float = 1.0):
        self.collectors = collectors
        self.series = series
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self.errors: dict[str, str] = {}

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def sample_once(self) -> None:
        for name, collect in self.collectors.items():
            try:
                self.series.add(collect())
            except Exception as exc:  # a collector failing must not end the run; it is recorded
                self.errors[name] = f"{type(exc).__name__}: {exc}"
                self.series.add([point(time.time(), "collector_errors", 1, collector=name)])

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample_once()  # a last sample at the end of the run
