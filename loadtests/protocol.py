"""What the Locust master and its workers say to each other (Locust custom messages), and the
version fingerprint a worker must share with the master, and the plans that the harness hands the
master and the master its workers. No locust import here: the harness imports it.

The exchange, after a worker connected (Locust's own ``client_ready``/``ack``):

- master -> worker ``wc:plan``: :class:`WorkerPlan` (the worker's index among ``processes`` and
  the run's :class:`LoadPlan`: the scenario itself, parsed once, the target, the run's settings);
- worker -> master ``wc:preparing``: ``{"index", "photos", "of"}`` every couple of seconds
  while it renders its photos ahead (``[load] photos_ahead``): the master waits for it as long
  as it makes progress;
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
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenario import Scenario

PLAN = "wc:plan"
PREPARING = "wc:preparing"
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


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (a master's); ValueError with what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5557)")
    return host, int(port)


@dataclass(frozen=True)
class LoadSettings:
    """Who runs the load (the command line's ``--processes`` and its neighbours): local workers,
    where the master listens for workers elsewhere, how many it waits for and how long."""

    processes: int  # local workers
    master_bind: str | None = None  # HOST:PORT for workers elsewhere; default a free local port
    expect_workers: int | None = None  # default: the local ones
    expect_workers_timeout: float = 120.0
    ui: bool = False

    @property
    def expected(self) -> int:
        return self.processes if self.expect_workers is None else self.expect_workers

    def check(self) -> None:
        """ValueError with one line when the settings cannot make a run."""
        if self.processes < 0:
            raise ValueError("--processes must be at least 0")
        if self.expected < 1:
            raise ValueError("no Locust worker: pass --processes N, or --expect-workers M (remote)")
        if self.expected < self.processes:
            raise ValueError(
                f"--expect-workers {self.expected} is fewer than the {self.processes} local workers"
            )
        if self.master_bind is not None:
            try:
                parse_address(self.master_bind)
            except ValueError as exc:
                raise ValueError(f"--master-bind {exc}") from None

    def master(self, load: LoadPlan, bind: str) -> MasterPlan:
        """What the master listening on ``bind`` is told."""
        return MasterPlan(load, bind, self.expected, self.expect_workers_timeout, self.ui)


def new_run_id() -> str:
    """Names the users' accounts of one load run (microseconds: runs never share one)."""
    return datetime.now(UTC).strftime("lt%Y%m%dT%H%M%S%f")


@dataclass(frozen=True)
class LoadPlan:
    """One run's load as every worker runs it: the one definition of what the harness (or the
    master's own command line) hands the master, and the master each worker
    (:class:`WorkerPlan`)."""

    scenario: dict[str, Any]  # Scenario.model_dump(mode="json"), parsed once by whoever plans
    scenario_path: str
    base_url: str
    run_id: str
    photo_salt: str  # makes this run's photos differ from other runs' ("": the scenario's own)
    flow_timeout: float  # seconds a scan may take
    drain_timeout: float = 60.0  # seconds flows in flight may take after the load ends
    heartbeat: float = 2.0  # seconds between the workers' rows and progress
    arrivals: str = "constant"  # open model: "constant" or "poisson"
    time_scale: float | None = None  # None: the scenario's
    upload_rewrites: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        scenario_path: Path,
        base_url: str,
        *,
        run_id: str | None = None,
        photo_salt: str | None = None,
        flow_timeout: float | None = None,
        **settings: Any,
    ) -> LoadPlan:
        """The plan of ``scenario``; a new run id, the run id as the salt (a cold cache) and the
        scenario's flow timeout (or 120 s) unless given."""
        run_id = run_id or new_run_id()
        return cls(
            scenario=scenario.model_dump(mode="json"),
            scenario_path=str(scenario_path),
            base_url=base_url.rstrip("/"),
            run_id=run_id,
            photo_salt=run_id if photo_salt is None else photo_salt,
            flow_timeout=flow_timeout or scenario.scaled().flow_timeout or 120.0,
            **settings,
        )


@dataclass(frozen=True)
class MasterPlan:
    """What the master of one run is told: the load, where it listens, how many workers it waits
    for (at most ``expect_timeout`` seconds) and whether it serves Locust's web UI. The harness
    writes it (:meth:`write`) for ``python -m loadtests --plan FILE``."""

    load: LoadPlan
    bind: str  # HOST:PORT
    expect_workers: int
    expect_timeout: float = 120.0
    ui: bool = False

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, path: Path) -> MasterPlan:
        data = json.loads(path.read_text())
        return cls(**{**data, "load": LoadPlan(**data["load"])})


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker needs to run its share of the load (sent as a plain dict)."""

    index: int
    processes: int
    fingerprint: str  # the master's
    load: LoadPlan

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> WorkerPlan:
        return cls(**{**data, "load": LoadPlan(**data["load"])})


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
