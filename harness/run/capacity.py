"""Capacity search: the largest user count at which a scenario's gates still pass.

A bisection over real runs (``wastecoach capacity capacity --low 250 --high 375``): the low end
must pass, the high end must fail, and each step runs the scenario at the middle count. A count
passes only when every one of its ``repeat`` runs passes the judged gates (all of the
scenario's, or those named), so one lucky run cannot raise the answer; a count stops being
repeated at its first failure. An inconclusive gate (too few samples) does not pass.

The search assumes more users never make the gates easier to pass; on a noisy machine use
``repeat`` > 1 near the bound. Every run keeps its own report folder; the search writes
``capacity.json`` beside them with each probe and the bracket found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.gates.evaluate import Verdict
from harness.run.runner import RunResult

CAPACITY_FILE = "capacity.json"


@dataclass(frozen=True)
class Probe:
    """One run at ``users``: whether the judged gates passed, and what they observed."""

    users: int
    passed: bool
    run_id: str
    observed: dict[str, float | None]
    verdicts: dict[str, str]


@dataclass
class SearchResult:
    """The bracket found: ``largest_passing`` (None: even ``low`` failed) and
    ``smallest_failing`` (None: even ``high`` passed, the capacity is above the range)."""

    low: int
    high: int
    resolution: int
    repeat: int
    gates: list[str]
    largest_passing: int | None = None
    smallest_failing: int | None = None
    probes: list[Probe] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.largest_passing is None:
            return f"even {self.low} users fail"
        if self.smallest_failing is None:
            return f"{self.high} users still pass: the capacity is above the range searched"
        return (
            f"{self.largest_passing} users pass, {self.smallest_failing} fail "
            f"(resolution {self.resolution})"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict}


def judge(result: RunResult, users: int, gates: Sequence[str]) -> Probe:
    """A probe from a finished run: it passes when every judged gate passed."""
    judged = [gate for gate in result.evaluation.gates if not gates or gate.gate.title in gates]
    verdicts = {gate.gate.title: gate.verdict.value for gate in judged}
    observed = {
        gate.gate.title: gate.thresholds[0].observed if gate.thresholds else None for gate in judged
    }
    # A run stopped early (abort_on_fail) carried less load than planned: it never passes.
    passed = (
        bool(judged)
        and not result.summary.get("aborted")
        and all(gate.verdict is Verdict.PASS for gate in judged)
    )
    return Probe(users, passed, result.run_dir.name, observed, verdicts)


def check_range(low: int, high: int, resolution: int, repeat: int) -> None:
    """``ValueError`` naming the bad argument."""
    if low < 1:
        raise ValueError(f"--low must be at least 1, got {low}")
    if high <= low:
        raise ValueError(f"--high must be above --low ({low}), got {high}")
    if resolution < 1:
        raise ValueError(f"--resolution must be at least 1, got {resolution}")
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")


def search(
    probe: Callable[[int], Probe],
    *,
    low: int,
    high: int,
    resolution: int = 1,
    repeat: int = 1,
    gates: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
    on_probe: Callable[[SearchResult], None] = lambda _: None,
) -> SearchResult:
    """Bisect ``[low, high]`` with ``probe`` (one run at a user count) until the passing and
    failing counts are at most ``resolution`` apart."""
    check_range(low, high, resolution, repeat)
    result = SearchResult(low, high, resolution, repeat, list(gates))

    def passes(users: int) -> bool:
        """Run ``users`` up to ``repeat`` times, move the bracket, report each probe."""
        for attempt in range(1, repeat + 1):
            progress(f"capacity: {users} users, run {attempt} of {repeat}")
            outcome = probe(users)
            result.probes.append(outcome)
            if not outcome.passed:
                result.smallest_failing = users
                on_probe(result)
                progress(f"capacity: {users} users fail ({outcome.run_id})")
                return False
            if attempt == repeat:
                result.largest_passing = users
            on_probe(result)
        progress(f"capacity: {users} users pass")
        return True

    if not passes(low) or passes(high):
        return result
    while result.smallest_failing - result.largest_passing > resolution:  # type: ignore[operator]
        passes((result.largest_passing + result.smallest_failing) // 2)  # type: ignore[operator]
    return result


def write(result: SearchResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CAPACITY_FILE
    path.write_text(json.dumps(result.to_json(), indent=2))
    return path
