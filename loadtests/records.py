"""What a Locust process writes: one CSV row per scan flow, one per HTTP request, and HDR
histograms of the flow timings, all exact (Locust's own statistics round response times).

Files per process ``i`` (merged by the runner into ``events.csv``, ``requests.csv``,
``checks.csv`` and ``histograms.json``):

- ``events-<i>.csv``: :data:`EVENT_COLUMNS`, one row per scan flow, written when it ends.
- ``requests-<i>.csv``: :data:`REQUEST_COLUMNS`, one row per HTTP request.
- ``checks-<i>.csv``: :data:`CHECK_COLUMNS`, one row per user, written when it stops.
- ``histograms-<i>.json``: per metric an HDR histogram (see :mod:`loadtests.histograms`).

Times are epoch seconds (6 decimals); durations milliseconds rounded to the microsecond, and
the histograms record exactly the value written to the CSV, so the merged percentiles can be
checked against the pooled rows. No locust import here.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.report.rundata import csv_cell
from loadtests.histograms import HistogramSet

EVENT_COLUMNS: tuple[str, ...] = (
    "process",
    "user",
    "scheduled_at",
    "started_at",
    "job_id",
    "accepted",
    "status",
    "error_stage",
    "error_code",
    "http_status",
    "cache_hit",
    "cache_match",
    "cache_distance",
    "item_key",
    "expected_category",
    "got_category",
    "variant",
    "is_repeat",
    "processing_ms",
    "end_to_end_ms",
    "server_processing_ms",
    "server_queue_wait_ms",
    "model_ms",
    "follow",
    "server_download_ms",
    "server_cache_lookup_ms",
    "server_store_ms",
    # What the user saw of the job (loadtests.progress): the other way it was also followed,
    # the poller's stages, and the checks on them (empty where a check does not apply).
    "second_follow",
    "progress_stages",
    "progress_backwards",
    "progress_frozen",
    "status_result_mismatch",
    "follow_mismatch",
)
# One row per user when it stops: its history and statistics against the scans it saw end
# (loadtests.history_check).
CHECK_COLUMNS: tuple[str, ...] = (
    "process",
    "user",
    "checked_at",
    "scans_held",
    "history_items",
    "history_missing",
    "history_wrong",
    "stats_mismatch",
    "error",
)
REQUEST_COLUMNS: tuple[str, ...] = (
    "ts",
    "process",
    "name",
    "method",
    "status",
    "ms",
    "ok",
    "error",
)
# Flow timings with a histogram (recorded for flows that ended "done", as the gates read them).
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
# Recorded for every flow: how late it started against its intended start.
START_LAG_METRIC = "start_lag_ms"


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


def request_metric(method: str, name: str) -> str:
    return f"request {method} {name}"


@dataclass
class FlowRecord:
    """One scan flow as it progresses; a row of ``events-<i>.csv`` once it ends."""

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
        return [csv_cell(getattr(self, name)) for name in EVENT_COLUMNS]


@dataclass
class UserCheck:
    """One user's history and statistics against the scans it saw end; a ``checks-<i>.csv`` row.

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
        return [csv_cell(getattr(self, name)) for name in CHECK_COLUMNS]


class CsvSink:
    """A CSV file written row by row (header first), flushed on demand."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self._file: TextIO = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)
        self.rows = 0

    def write(self, row: list[object]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


RequestListener = Callable[[str, str, float, int, str | None], None]


class ProcessRecorder:
    """Everything one Locust process measures; counters feed its heartbeat."""

    def __init__(
        self, out_dir: Path, process: int, *, on_request: RequestListener | None = None
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.process = process
        self.out_dir = out_dir
        self.events = CsvSink(out_dir / f"events-{process}.csv", EVENT_COLUMNS)
        self.requests = CsvSink(out_dir / f"requests-{process}.csv", REQUEST_COLUMNS)
        self.checks = CsvSink(out_dir / f"checks-{process}.csv", CHECK_COLUMNS)
        self.histograms = HistogramSet()
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
    ) -> None:
        value = ms(duration_ms)
        self.requests.write(
            [round(ts, 6), self.process, name, method, status, value, csv_cell(ok), error or ""]
        )
        self.histograms.record(request_metric(method, name), value)
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
        if record.status == "done":
            for metric in FLOW_METRICS:
                self.histograms.record(metric, getattr(record, metric))
        lag = ms(max(0.0, (record.started_at - record.scheduled_at) * 1000))
        self.histograms.record(START_LAG_METRIC, lag)
        return True

    def user_check(self, check: UserCheck) -> None:
        self.checks.write(check.row())
        self.counts["users_checked"] += 1

    def other_action(self, kind: str, ok: bool) -> None:
        self.counts[f"{kind}_actions"] += 1
        if not ok:
            self.counts[f"{kind}_errors"] += 1

    # -- files ---------------------------------------------------------------------------------
    def flush(self) -> None:
        self.events.flush()
        self.requests.flush()
        self.checks.flush()

    def close(self) -> None:
        self.events.close()
        self.requests.close()
        self.checks.close()
        self.histograms.write(self.out_dir / f"histograms-{self.process}.json")
