"""CPU and memory of every process of the run, grouped by the seed's tiers."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import psutil

from harness.collect.series import Point, point

# Storage servers found by process name (they are not our children).
STORAGE_NAMES = {"postgres": "postgresql", "redis-server": "redis", "beam.smp": "rabbitmq"}


@dataclass(frozen=True)
class Watched:
    name: str
    tier: str
    pid: int


class ResourceSampler:
    """Samples ``psutil`` for the given processes (children included) and the storage tier."""

    def __init__(self, watched: list[Watched]) -> None:
        self.handles: dict[str, tuple[str, list[psutil.Process]]] = {}
        for item in watched:
            try:
                root = psutil.Process(item.pid)
            except psutil.NoSuchProcess:
                continue
            self.handles[item.name] = (item.tier, [root, *root.children(recursive=True)])
        storage: dict[str, list[psutil.Process]] = {}
        for proc in psutil.process_iter(["name"]):
            label = STORAGE_NAMES.get(proc.info["name"] or "")
            if label:
                storage.setdefault(label, []).append(proc)
        for label, procs in storage.items():
            self.handles[label] = ("storage", procs)
        for _, procs in self.handles.values():
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent(None)  # prime: the next call measures since now

    def sample(self) -> list[Point]:
        now = time.time()
        points: list[Point] = []
        for name, (tier, procs) in self.handles.items():
            cpu = rss = 0.0
            for proc in procs:
                try:
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
            points.append(point(now, "cpu_percent", cpu, process=name, tier=tier))
            points.append(point(now, "rss_bytes", rss, process=name, tier=tier))
        return points
