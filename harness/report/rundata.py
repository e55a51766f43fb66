"""What a run leaves in ``reports/<run-id>/`` and how to read it back.

- ``events.csv``: one row per scan flow (the load generator's own, exact measurements)
- ``requests.csv``: one row per HTTP request
- ``checks.csv``: one row per user: its history and statistics against the scans it saw end
- ``series.csv``: time series sampled during the run (queues, Redis, metrics, resources)
- ``summary.json``: the scenario, the gate verdicts and the headline numbers

The CSV columns and their types are :mod:`harness.report.rows`.
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
from harness.report.rows import CHECKS as CHECK_ROWS
from harness.report.rows import EVENTS as EVENT_ROWS
from harness.report.rows import REQUESTS as REQUEST_ROWS
from harness.report.rows import Column, RowSchema, csv_cell

EVENTS = "events.csv"
REQUESTS = "requests.csv"
CHECKS = "checks.csv"
SERIES = "series.csv"
SUMMARY = "summary.json"


# The one column the harness adds to the load generator's events: a job the settle step saw end
# on the server after the load generator had given up on it (harness.run.settle).
SETTLED_LATE = Column("settled_late", "boolean")


def read_events(path: Path) -> list[dict[str, Any]]:
    """Scan flows with numbers and booleans parsed (empty cells become None)."""
    if not path.exists():
        return []
    with path.open(newline="") as source:
        return _event_rows(source)


def read_live_events(path: Path) -> list[dict[str, Any]]:
    """The rows of an ``events`` file the load generator is still writing: complete lines only
    (its buffer may have reached the disk in the middle of a row)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return _event_rows(io.StringIO(text[: text.rfind("\n") + 1], newline=""))


def _event_rows(source: Iterable[str]) -> list[dict[str, Any]]:
    return [EVENT_ROWS.parse(raw, extra=(SETTLED_LATE,)) for raw in csv.DictReader(source)]


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


def _read_rows(path: Path, schema: RowSchema) -> list[dict[str, Any]]:
    """A CSV file's rows, typed by ``schema`` (an absent file: no rows)."""
    if not path.exists():
        return []
    with path.open(newline="") as source:
        return [schema.parse(raw) for raw in csv.DictReader(source)]


def read_requests(path: Path) -> list[dict[str, Any]]:
    return _read_rows(path, REQUEST_ROWS)


def read_checks(path: Path) -> list[dict[str, Any]]:
    """Per-user checks (``checked_at`` and ``history_items`` parsed; the rest as written)."""
    return _read_rows(path, CHECK_ROWS)


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
