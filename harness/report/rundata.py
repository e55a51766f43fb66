"""What a run leaves in ``reports/<run-id>/`` and how to read it back.

- ``events.csv``: one row per scan flow (the load generator's own, exact measurements)
- ``requests.csv``: one row per HTTP request
- ``checks.csv``: one row per user: its history and statistics against the scans it saw end
- ``series.csv``: time series sampled during the run (queues, Redis, metrics, resources)
- ``summary.json``: the scenario, the gate verdicts and the headline numbers
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.collect.series import Series

EVENTS = "events.csv"
REQUESTS = "requests.csv"
CHECKS = "checks.csv"
SERIES = "series.csv"
SUMMARY = "summary.json"


def _number(value: str) -> float | None:
    if value in ("", "None", "nan"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _boolean(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


NUMERIC_EVENT_FIELDS = (
    "scheduled_at",
    "started_at",
    "processing_ms",
    "end_to_end_ms",
    "server_processing_ms",
    "server_queue_wait_ms",
    "model_ms",
    "http_status",
    "cache_distance",
    "server_download_ms",
    "server_cache_lookup_ms",
    "server_store_ms",
)
BOOLEAN_EVENT_FIELDS = (
    "settled_late",
    "accepted",
    "cache_hit",
    "is_repeat",
    "progress_backwards",
    "progress_frozen",
    "status_result_mismatch",
    "follow_mismatch",
)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Scan flows with numbers and booleans parsed (empty cells become None)."""
    if not path.exists():
        return []
    with path.open(newline="") as source:
        return _event_rows(source)


def read_live_events(path: Path) -> list[dict[str, Any]]:
    """The rows of an ``events`` file a Locust process is still writing: complete lines only
    (its buffer may have reached the disk in the middle of a row)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return _event_rows(io.StringIO(text[: text.rfind("\n") + 1], newline=""))


def _event_rows(source: Iterable[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for raw in csv.DictReader(source):
        row: dict[str, Any] = dict(raw)
        for name in NUMERIC_EVENT_FIELDS:
            if name in row:
                row[name] = _number(row[name] or "")
        for name in BOOLEAN_EVENT_FIELDS:
            if name in row:
                row[name] = _boolean(row[name] or "")
        rows.append(row)
    return rows


def csv_cell(value: object) -> object:
    """A value as the run's CSV files write it: empty for None, true/false for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_events(path: Path, events: list[dict[str, Any]]) -> None:
    """Write scan flows back (after the runner settled late jobs), keeping the column order."""
    columns: list[str] = []
    for event in events:
        columns += [key for key in event if key not in columns]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for event in events:
            writer.writerow({key: csv_cell(value) for key, value in event.items()})


def _read_rows(
    path: Path, *, numbers: tuple[str, ...] = (), booleans: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A CSV file's rows with the named columns parsed (an absent file: no rows)."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    with path.open(newline="") as source:
        for raw in csv.DictReader(source):
            row: dict[str, Any] = dict(raw)
            for key in numbers:
                row[key] = _number(row.get(key) or "")
            for key in booleans:
                row[key] = _boolean(row.get(key) or "")
            rows.append(row)
    return rows


def read_requests(path: Path) -> list[dict[str, Any]]:
    return _read_rows(path, numbers=("ts", "ms"), booleans=("ok",))


def read_checks(path: Path) -> list[dict[str, Any]]:
    """Per-user checks (``checked_at`` and ``history_items`` parsed; the rest as written)."""
    return _read_rows(path, numbers=("checked_at", "history_items"))


@dataclass
class RunData:
    run_dir: Path
    summary: dict[str, Any]
    events: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    series: Series
    checks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: Path) -> RunData:
        summary_path = run_dir / SUMMARY
        if not summary_path.exists():
            raise FileNotFoundError(f"{run_dir} holds no {SUMMARY}: is it a run folder?")
        series_path = run_dir / SERIES
        return cls(
            run_dir,
            json.loads(summary_path.read_text()),
            read_events(run_dir / EVENTS),
            read_requests(run_dir / REQUESTS),
            Series.read_csv(series_path) if series_path.exists() else Series(),
            read_checks(run_dir / CHECKS),
        )
