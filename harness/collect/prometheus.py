"""Scraping the services' and workers' ``/metrics`` endpoints during a run."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.collect.series import Point, point

# The counters and gauges of ours worth keeping as time series (label sets kept as tags).
KEPT = {
    "wastecoach_cache_lookups_total",
    "wastecoach_tasks_total",
    "wastecoach_model_calls_total",
    "wastecoach_http_requests_total",
    "wastecoach_dlq_messages",
}


class PrometheusSampler:
    """Scrapes named targets; a target that does not answer is counted, not fatal."""

    def __init__(self, targets: dict[str, str], client: httpx.Client | None = None) -> None:
        self.targets = targets
        self.http = client or httpx.Client(timeout=5)

    def close(self) -> None:
        self.http.close()

    def sample(self) -> list[Point]:
        now = time.time()
        points: list[Point] = []
        for target, url in self.targets.items():
            try:
                text = self.http.get(url).text
            except httpx.HTTPError:
                points.append(point(now, "scrape_failures", 1, target=target))
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in KEPT:
                        points.append(
                            point(now, sample.name, sample.value, target=target, **sample.labels)
                        )
        return points
