"""Time series gathered during a run: one row per (time, metric, tags, value)."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Point:
    ts: float  # epoch seconds
    metric: str
    value: float
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, name: str) -> str | None:
        return dict(self.tags).get(name)


def point(ts: float, metric: str, value: float, **tags: str) -> Point:
    return Point(ts, metric, float(value), tuple(sorted(tags.items())))


@dataclass
class Series:
    """Thread-safe append-only store of points; written to CSV at the end of a run."""

    points: list[Point] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, points: Iterable[Point]) -> None:
        with self._lock:
            self.points.extend(points)

    def select(self, metric: str, **tags: str) -> Iterator[Point]:
        wanted = set(tags.items())
        with self._lock:
            snapshot = list(self.points)
        for p in snapshot:
            if p.metric == metric and wanted <= set(p.tags):
                yield p

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["ts", "metric", "value", "tags"])
            with self._lock:
                for p in self.points:
                    tags = ";".join(f"{k}={v}" for k, v in p.tags)
                    writer.writerow([f"{p.ts:.3f}", p.metric, repr(p.value), tags])

    @classmethod
    def read_csv(cls, path: Path) -> Series:
        series = cls()
        with path.open(newline="") as source:
            for row in csv.DictReader(source):
                tags = tuple(tuple(item.split("=", 1)) for item in row["tags"].split(";") if item)
                series.points.append(
                    Point(float(row["ts"]), row["metric"], float(row["value"]), tags)  # type: ignore[arg-type]
                )
        return series
