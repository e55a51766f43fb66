"""The config, seeded random sequence and stats that a fake keeps, behind one lock."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

C = TypeVar("C")


class SeededFake(Generic[C]):
    """A fake's config and random sequence. Subclasses define ``_zero`` (their stats)."""

    def __init__(self, config: C) -> None:
        self._lock = threading.Lock()
        self._in_flight = self._max_in_flight = 0
        self._generation = 0  # stats since the last reset; older held requests are not counted
        self._zero()
        self.configure(config)

    @property
    def config(self) -> C:
        return self._config

    def configure(self, config: C) -> None:
        """Replace the config; the random sequence restarts from its seed, stats are kept."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Zero the stats and restart the random sequence from the config's seed."""
        with self._lock:
            self._rng = random.Random(self._config.seed)  # type: ignore[attr-defined]
            self._generation += 1
            self._in_flight = self._max_in_flight = 0
            self._zero()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request as held while inside, for the concurrency figures of the stats."""
        with self._lock:
            generation = self._generation
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                if generation == self._generation:  # not counted since a reset otherwise
                    self._in_flight -= 1

    def _zero(self) -> None:
        raise NotImplementedError
