"""What the Locust master and its workers say to each other (Locust custom messages), and the
version fingerprint a worker must share with the master. No locust import here.

The exchange, after a worker connected (Locust's own ``client_ready``/``ack``):

- master -> worker ``wc:plan``: :class:`WorkerPlan` (the scenario itself, parsed once by the
  master, the worker's index among ``processes``, the target, the run's settings);
- worker -> master ``wc:ready``: ``{"index", "fingerprint"}`` once its users are ready;
- master -> every worker ``wc:start``: ``{"load_start": epoch}``, the load's t=0;
- worker -> master ``wc:rows``: ``{"index", "events", "requests", "checks", "progress"}`` every
  heartbeat: the rows recorded since the last one (header-less, :mod:`harness.report.rows`);
- worker -> master ``wc:done``: ``{"index", "summary"}`` after its last rows;
- master -> every worker ``wc:stop``: end the load at once (the flows in flight are cut and
  still written).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLAN = "wc:plan"
READY = "wc:ready"
START = "wc:start"
ROWS = "wc:rows"
DONE = "wc:done"
STOP = "wc:stop"

# A worker's master (HOST:PORT) when ``wastecoach load-worker`` is not given --master (pods).
MASTER_ENV = "WASTECOACH_LOAD_MASTER"

REPO_ROOT = Path(__file__).resolve().parents[1]
# The packages a worker runs: the user code, the scenario model, the photo corpus, the app's
# schemas. A worker with other sources measures another load.
FINGERPRINTED = ("loadtests", "harness", "reference")


def fingerprint(root: Path = REPO_ROOT) -> str:
    """A hash of this installation's Python sources (paths and contents)."""
    digest = hashlib.sha256()
    for package in FINGERPRINTED:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class WorkerPlan:
    """What one worker needs to run its share of the load (sent as a plain dict)."""

    index: int
    processes: int
    scenario: dict[str, Any]  # Scenario.model_dump(mode="json")
    base_url: str
    run_id: str
    photo_salt: str
    flow_timeout: float
    drain_timeout: float
    heartbeat: float
    arrivals: str
    fingerprint: str
    time_scale: float | None = None
    upload_rewrites: dict[str, str] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> WorkerPlan:
        return cls(**data)


SUMMED = (
    "users",
    "flows_started",
    "flows_finished",
    "in_flight",
    "accepted",
    "done",
    "failed",
    "errors",
    "requests",
    "request_errors",
    "behind",
    "user_errors",
)


def total_progress(beats: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' last heartbeats added up (one progress line)."""
    total: dict[str, Any] = {key: sum(int(b.get(key, 0)) for b in beats) for key in SUMMED}
    total["cpu_percent"] = round(sum(float(b.get("cpu_percent", 0.0)) for b in beats), 1)
    total["elapsed"] = max((float(b.get("elapsed", 0.0)) for b in beats), default=0.0)
    return total


def total_summaries(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """The numbers of the workers' final summaries added up (``load.json``'s ``totals``)."""
    totals: dict[str, float] = {}
    for summary in summaries:
        for key, value in summary.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    for key in ("process", "elapsed", "late_start_s", "load_start", "load_end", "cpu_percent"):
        totals.pop(key, None)
    return totals
