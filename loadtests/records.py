"""What a Locust worker measures: one row per scan flow, one per HTTP request, one per user's
checks, all exact (Locust's own statistics round response times).

The rows follow the run's one schema (:mod:`harness.report.rows`) and wait in memory until the
worker ships them to the master (:mod:`loadtests.worker`), which writes ``events.csv``,
``requests.csv`` and ``checks.csv``. Times are epoch seconds (6 decimals); durations
milliseconds rounded to the microsecond. No locust import here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.rows import CHECKS, EVENTS, REQUESTS

EVENT_COLUMNS = EVENTS.names
CHECK_COLUMNS = CHECKS.names
REQUEST_COLUMNS = REQUESTS.names
# The flow timings (milliseconds, rounded to the microsecond as written).
FLOW_METRICS: tuple[str, ...] = (
    "processing_ms",
    "end_to_end_ms",
    "server_processing_ms",
    "server_queue_wait_ms",
    "model_ms",
    "server_download_ms",
    "server_cache_lookup_ms",
    "server_store_ms",
)
# The result's server-side ``timings`` (reference.waste.schemas.Timings) as event columns.
SERVER_TIMINGS: dict[str, str] = {
    "processing_ms": "server_processing_ms",
    "queue_wait_ms": "server_queue_wait_ms",
    "download_ms": "server_download_ms",
    "cache_lookup_ms": "server_cache_lookup_ms",
    "model_ms": "model_ms",
    "store_ms": "server_store_ms",
}


def ms(value: float | None) -> float | None:
    """A duration in ms as written and recorded (rounded to the microsecond)."""
    return None if value is None else round(value, 3)


def server_timings(timings: Mapping[str, Any]) -> dict[str, float | None]:
    """The event columns of a result's ``timings`` (None where the server gave none)."""
    out: dict[str, float | None] = {}
    for key, column in SERVER_TIMINGS.items():
        value = timings.get(key)
        out[column] = None if value is None else max(0.0, float(value))
    return out


@dataclass
class FlowRecord:
    """One scan flow as it progresses; a row of ``events.csv`` once it ends."""

    process: int
    user: int
    scheduled_at: float
    started_at: float
    item_key: str
    expected_category: str
    variant: str
    is_repeat: bool
    follow: str
    job_id: str = ""
    accepted: bool = False
    status: str = ""
    error_stage: str = ""
    error_code: str = ""
    http_status: int | None = None
    cache_hit: bool | None = None
    cache_match: str = ""  # exact, near or model
    cache_distance: int | None = None
    got_category: str = ""
    processing_ms: float | None = None
    end_to_end_ms: float | None = None
    server_processing_ms: float | None = None
    server_queue_wait_ms: float | None = None
    model_ms: float | None = None
    server_download_ms: float | None = None
    server_cache_lookup_ms: float | None = None
    server_store_ms: float | None = None
    second_follow: str = ""
    progress_stages: str = ""
    progress_backwards: bool | None = None
    progress_frozen: bool | None = None
    status_result_mismatch: bool | None = None
    follow_mismatch: bool | None = None
    # The step under way (for a flow cut off at the end of the drain); not a column.
    stage: str = ""
    written: bool = False

    def fail(self, status: str, stage: str, code: str, http_status: int | None = None) -> None:
        self.status, self.error_stage, self.error_code = status, stage, code
        if http_status is not None:
            self.http_status = http_status

    def row(self) -> list[object]:
        return EVENTS.cells({name: getattr(self, name) for name in EVENT_COLUMNS})


@dataclass
class UserCheck:
    """One user's history and statistics against the scans it saw end; a ``checks.csv`` row.

    ``history_missing`` and ``history_wrong`` list job ids (space-separated; wrong ones as
    ``id:field``); ``stats_mismatch`` says which totals differ; ``error`` why the check could
    not be made (then nothing else is known)."""

    process: int
    user: int
    checked_at: float
    scans_held: int
    history_items: int | None = None
    history_missing: str = ""
    history_wrong: str = ""
    stats_mismatch: str = ""
    error: str = ""

    def row(self) -> list[object]:
        return CHECKS.cells({name: getattr(self, name) for name in CHECK_COLUMNS})


class RowBuffer:
    """Rows waiting to be shipped (header-less; the schema names the columns)."""

    def __init__(self) -> None:
        self.pending: list[list[object]] = []
        self.rows = 0

    def write(self, row: list[object]) -> None:
        self.pending.append(row)
        self.rows += 1

    def take(self) -> list[list[object]]:
        rows, self.pending = self.pending, []
        return rows


RequestListener = Callable[[str, str, float, int, str | None], None]


class ProcessRecorder:
    """Everything one Locust worker measures; counters feed its heartbeat."""

    def __init__(self, process: int, *, on_request: RequestListener | None = None) -> None:
        self.process = process
        self.events = RowBuffer()
        self.requests = RowBuffer()
        self.checks = RowBuffer()
        self.on_request = on_request
        self.counts: Counter[str] = Counter()

    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        ts: float,
        name: str,
        method: str,
        status: int,
        duration_ms: float,
        ok: bool,
        error: str | None = None,
        *,
        user: int | None = None,
        actor: str = "app",
    ) -> None:
        value = ms(duration_ms)
        self.requests.write(
            REQUESTS.cells(
                {
                    "ts": round(ts, 6),
                    "process": self.process,
                    "name": name,
                    "method": method,
                    "status": status,
                    "ms": value,
                    "ok": ok,
                    "error": error or "",
                    "user": user,
                    "actor": actor,
                }
            )
        )
        self.counts["requests"] += 1
        if not ok:
            self.counts["request_errors"] += 1
        if self.on_request is not None:
            self.on_request(method, name, duration_ms, status, None if ok else (error or "error"))

    # -- flows ---------------------------------------------------------------------------------
    def flow_started(self) -> None:
        self.counts["flows_started"] += 1

    def flow(self, record: FlowRecord) -> bool:
        """Write the flow's row once (False if it was already written, e.g. cut at drain)."""
        if record.written:
            return False
        record.written = True
        for name in FLOW_METRICS:
            setattr(record, name, ms(getattr(record, name)))
        self.events.write(record.row())
        self.counts["flows_finished"] += 1
        self.counts[f"flows_{record.status or 'error'}"] += 1
        if record.accepted:
            self.counts["accepted"] += 1
        return True

    def user_check(self, check: UserCheck) -> None:
        self.checks.write(check.row())
        self.counts["users_checked"] += 1

    def other_action(self, kind: str, ok: bool) -> None:
        self.counts[f"{kind}_actions"] += 1
        if not ok:
            self.counts[f"{kind}_errors"] += 1

    # -- shipping -----------------------------------------------------------------------------
    def take(self) -> dict[str, list[list[object]]]:
        """The rows recorded since the last call, by file."""
        return {
            "events": self.events.take(),
            "requests": self.requests.take(),
            "checks": self.checks.take(),
        }
