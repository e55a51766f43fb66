"""The run's CSV files as the master writes them from its workers' rows (no locust import).

``events.csv``, ``requests.csv`` and ``checks.csv`` get a header (:mod:`harness.report.rows`),
then every worker's rows as they arrive, flushed after each batch so the harness can watch the
flows live. At the end ``events.csv`` is ordered by intended start (``scheduled_at``, then
worker). The rows are the workers' own, so every percentile computed from the files is the one
a single process would compute from the same records.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO

from harness.report.rows import CHECKS, EVENTS, REQUESTS, RowSchema

FILES: dict[str, tuple[str, RowSchema]] = {
    "events": ("events.csv", EVENTS),
    "requests": ("requests.csv", REQUESTS),
    "checks": ("checks.csv", CHECKS),
}


class RunFiles:
    """The three CSV files of one run, open for appending rows."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.counts = dict.fromkeys(FILES, 0)
        self._files: dict[str, TextIO] = {}
        self._writers: dict[str, Any] = {}
        for kind, (name, schema) in FILES.items():
            handle = self._files[kind] = (out / name).open("w", newline="", encoding="utf-8")
            self._writers[kind] = csv.writer(handle)
            self._writers[kind].writerow(schema.names)

    def add(self, rows: dict[str, list[list[object]]]) -> None:
        """One batch of a worker's rows (by kind), written and flushed."""
        for kind, batch in rows.items():
            if kind not in FILES or not batch:
                continue
            width = len(FILES[kind][1].columns)
            bad = next((row for row in batch if len(row) != width), None)
            if bad is not None:
                raise ValueError(f"a {kind} row has {len(bad)} cells, not {width}: {bad!r}")
            self._writers[kind].writerows(batch)
            self.counts[kind] += len(batch)
            self._files[kind].flush()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._order_events()

    def _order_events(self) -> None:
        path = self.out / FILES["events"][0]
        with path.open(newline="", encoding="utf-8") as source:
            reader = csv.reader(source)
            header = next(reader)
            rows = list(reader)
        at, process = header.index("scheduled_at"), header.index("process")
        rows.sort(key=lambda row: (float(row[at]), int(row[process])))
        with path.open("w", newline="", encoding="utf-8") as target:
            writer = csv.writer(target)
            writer.writerow(header)
            writer.writerows(rows)
