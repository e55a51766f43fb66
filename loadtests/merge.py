"""Merging the per-process files of a load run into the run's own (no locust import).

- ``events.csv``: every process's flows, ordered by intended start (``scheduled_at``).
- ``requests.csv``: every process's requests, process by process (streamed, not sorted: it can
  hold millions of rows).
- ``checks.csv``: every process's per-user checks, process by process.
- ``histograms.json``: per metric the sum of the processes' HDR histograms and its exact
  percentiles (see :mod:`loadtests.histograms`).
- ``load.json``: what each process reported at its end, and the totals.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtests.histograms import merged_document
from loadtests.records import CHECK_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS

EVENTS = "events.csv"
REQUESTS = "requests.csv"
CHECKS = "checks.csv"
HISTOGRAMS = "histograms.json"
LOAD = "load.json"


def _parts(parts_dir: Path, stem: str, suffix: str) -> list[Path]:
    """``stem-<i>.suffix`` files ordered by process number."""
    found = [p for p in parts_dir.glob(f"{stem}-*.{suffix}") if p.stem[len(stem) + 1 :].isdigit()]
    return sorted(found, key=lambda p: int(p.stem[len(stem) + 1 :]))


def merge_events(parts: Sequence[Path], target: Path) -> int:
    rows: list[dict[str, str]] = []
    for part in parts:
        with part.open(newline="", encoding="utf-8") as source:
            # A process killed mid-write can leave a truncated last line: not a flow.
            rows.extend(r for r in csv.DictReader(source) if r.get("follow") is not None)
    rows.sort(key=lambda row: (float(row["scheduled_at"]), int(row["process"])))
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, EVENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def merge_rows(
    parts: Sequence[Path], target: Path, columns: tuple[str, ...] = REQUEST_COLUMNS
) -> int:
    """Concatenate per-process CSV files with the header ``columns`` (streamed)."""
    count = 0
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for part in parts:
            with part.open(newline="", encoding="utf-8") as source:
                reader = csv.reader(source)
                header = next(reader, None)
                if header != list(columns):
                    raise ValueError(f"{part}: unexpected header {header!r}")
                for row in reader:
                    writer.writerow(row)
                    count += 1
    return count


def merge_histograms(parts: Sequence[Path], target: Path) -> dict[str, Any]:
    document = merged_document(json.loads(p.read_text()) for p in parts)
    target.write_text(json.dumps(document, indent=1))
    return document


def merge_summaries(parts: Sequence[Path]) -> dict[str, Any]:
    processes = [json.loads(p.read_text()) for p in parts]
    totals: dict[str, float] = {}
    for summary in processes:
        for key, value in summary.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    for key in ("process", "elapsed", "late_start_s", "load_start", "load_end", "cpu_percent"):
        totals.pop(key, None)
    return {"processes": processes, "totals": totals}


def merge_run(
    parts_dir: Path, out_dir: Path, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the run's merged files from ``parts_dir`` into ``out_dir``; return ``load.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    events = merge_events(_parts(parts_dir, "events", "csv"), out_dir / EVENTS)
    requests = merge_rows(_parts(parts_dir, "requests", "csv"), out_dir / REQUESTS)
    checks = merge_rows(_parts(parts_dir, "checks", "csv"), out_dir / CHECKS, CHECK_COLUMNS)
    histograms = merge_histograms(_parts(parts_dir, "histograms", "json"), out_dir / HISTOGRAMS)
    load = merge_summaries(_parts(parts_dir, "process", "json"))
    load.update(extra or {})
    load["files"] = {"events": events, "requests": requests, "checks": checks}
    load["histograms"] = {
        name: {k: v for k, v in metric.items() if k != "encoded"}
        for name, metric in histograms["metrics"].items()
    }
    (out_dir / LOAD).write_text(json.dumps(load, indent=1))
    return load
