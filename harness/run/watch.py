"""Watching a run while its load is applied: a stack process that dies (a harness failure) and
gates marked ``abort_on_fail`` that break (k6's abortOnFail). Either stops the load at once.

The live data are what the runner can see during the load: the sampled series (in this
process) and the scan flows the Locust master has written so far (it flushes ``events.csv``
after every batch of rows a worker sends). Only gates whose bound stays broken once broken may abort
(:func:`harness.gates.model.stays_broken`), so what stops a run is never undone by later data;
the verdict is still judged on the complete data after the load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.collect.series import Series
from harness.gates.evaluate import Verdict, evaluate
from harness.gates.model import Gate
from harness.report.rundata import read_live_events
from harness.run import observations
from harness.run.settle import settle_open_jobs

if TYPE_CHECKING:
    from harness.stack.local import LocalStack


@dataclass(frozen=True)
class Abort:
    """A gate broken while the load ran: which, when (epoch seconds) and why."""

    gate: str
    at: float
    message: str

    def seconds_into(self, load_start: float) -> float:
        return max(0.0, self.at - load_start)

    def to_dict(self, load_start: float) -> dict[str, object]:
        """For the summary; ``load_start`` is when the load really began (its own clock)."""
        return {
            "gate": self.gate,
            "at_seconds": round(self.seconds_into(load_start), 1),
            "message": self.message,
        }


class LoadWatch:
    """A thread that calls ``stop_load`` once a stack process dies unexpectedly (``death``)
    or an abort gate breaks (``abort``); the first of the two wins."""

    def __init__(
        self,
        *,
        stack: LocalStack | None,
        gates: Sequence[Gate],
        warmup: float,
        series: Series,
        events_path: Path,
        interval: float = 1.0,
    ) -> None:
        self.stack = stack
        self.gates = [gate for gate in gates if gate.abort_on_fail]
        self.warmup = warmup
        self.series = series
        self.events_path = events_path
        self.interval = interval
        self.death: str | None = None
        self.abort: Abort | None = None
        self.errors: list[str] = []
        self.checks = 0  # live gate checks made
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_start = time.time()

    def start(self, *, load_start: float, stop_load: Callable[[], None]) -> LoadWatch:
        self._load_start = load_start
        self._thread = threading.Thread(
            target=self._run, args=(stop_load,), name="load-watch", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_deaths(self) -> str | None:
        """Processes that exited without the harness stopping them, one line; None if none."""
        deaths = self.stack.unexpected_deaths() if self.stack is not None else []
        if deaths and self.death is None:
            self.death = "; ".join(deaths)
        return self.death

    def _run(self, stop_load: Callable[[], None]) -> None:
        while not self._stop.wait(self.interval):
            if self.check_deaths() is not None:
                stop_load()
                return
            try:
                self.abort = self._broken_gate()
            except Exception as exc:  # live data unreadable: no abort, said in the notes
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                self.checks += 1
            if self.abort is not None:
                stop_load()
                return

    def _broken_gate(self) -> Abort | None:
        if not self.gates or time.time() < self._load_start:
            return None
        now = time.time()
        events = self._live_events()
        samples = observations.build(events, [], self.series, start=self._load_start, end=now)
        for result in evaluate(self.gates, samples, warmup=self.warmup).gates:
            if result.verdict is Verdict.FAIL:
                return Abort(result.gate.title, now, result.message)
        return None

    def _live_events(self) -> list[dict[str, Any]]:
        events = read_live_events(self.events_path)
        # A flow the app gave up on is lost only if the server has not ended the job either.
        settle_open_jobs(events, self.stack, 0.0)
        return events
