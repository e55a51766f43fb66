"""A small benchmark of the image-analysis path: processing time of cache misses and hits
and the time the stack adds on top of the model's own latency.

Each photo is analysed twice: first a miss (the mock model answers after its latency), then
the same bytes again, a hit. Timings are taken on both sides: the client (upload-complete
sent -> result visible through the event stream) and the server (queued -> stored, and the
time spent in the model call).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.app.auth_client import dev_login
from harness.app.client import FlowResult, WasteClient
from harness.gates.stats import summary
from harness.mocks import catalog


@dataclass
class BenchResult:
    misses: list[FlowResult]
    hits: list[FlowResult]
    expected: list[str]  # the true category of photo i (misses[i] and hits[i])

    def report(self) -> dict[str, Any]:
        def server_ms(flows: list[FlowResult], key: str) -> list[float]:
            return [f.server_timings[key] / 1000 for f in flows if f.server_timings.get(key)]

        miss_overhead = [
            (f.server_timings["processing_ms"] - f.server_timings["model_ms"]) / 1000
            for f in self.misses
        ]
        client_overhead = [
            f.processing_seconds - f.server_timings["model_ms"] / 1000 for f in self.misses
        ]
        return {
            "jobs": {"misses": len(self.misses), "hits": len(self.hits)},
            "wrong_answers": sum(
                not _right(flow, category)
                for flows in (self.misses, self.hits)
                for flow, category in zip(flows, self.expected, strict=True)
            ),
            "cache_hits_on_repeat": sum(1 for f in self.hits if f.cache_hit),
            "miss_processing_client_ms": ms([f.processing_seconds for f in self.misses]),
            "hit_processing_client_ms": ms([f.processing_seconds for f in self.hits]),
            "miss_processing_server_ms": ms(server_ms(self.misses, "processing_ms")),
            "hit_processing_server_ms": ms(server_ms(self.hits, "processing_ms")),
            "model_latency_ms": ms(server_ms(self.misses, "model_ms")),
            "stack_overhead_server_ms": ms(miss_overhead),
            "stack_overhead_client_ms": ms(client_overhead),
        }


def ms(values: list[float]) -> dict[str, float]:
    """The summary of ``values`` (seconds) in milliseconds."""
    return {k: (round(v * 1000, 1) if k != "n" else v) for k, v in summary(values).items()}


def _right(flow: FlowResult, category: str) -> bool:
    return (
        flow.status == "done" and flow.result is not None and (flow.result["category"] == category)
    )


def run_bench(base_url: str, photos: int, concurrency: int) -> BenchResult:
    """Analyse ``photos`` distinct catalog photos (misses), then each again (hits)."""
    items = [catalog.ITEMS[i % len(catalog.ITEMS)] for i in range(photos)]
    images = [catalog.render(item, seed=i) for i, item in enumerate(items)]

    token = dev_login(base_url)

    def one(index: int) -> FlowResult:
        with WasteClient(base_url, token=token) as client:
            return client.analyze_photo(images[index], follow="stream")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        misses = list(pool.map(one, range(photos)))
        hits = list(pool.map(one, range(photos)))
    return BenchResult(misses, hits, [item.category.value for item in items])


def overhead_at(base_url: str, users: int, *, seed: int) -> dict[str, Any]:
    """The stack's overhead (server processing minus the model's time) with ``users`` users at
    once, each a user of its own (so the per-user limits hold) scanning a photo of its own
    (photos ``seed`` on) and following it on the event stream."""
    items = [catalog.ITEMS[(seed + i) % len(catalog.ITEMS)] for i in range(users)]
    images = [catalog.render(item, seed=seed + i) for i, item in enumerate(items)]
    tokens = [dev_login(base_url) for _ in range(users)]

    def one(index: int) -> FlowResult:
        with WasteClient(base_url, token=tokens[index]) as client:
            return client.analyze_photo(images[index], follow="stream")

    with ThreadPoolExecutor(max_workers=users) as pool:
        flows = list(pool.map(one, range(users)))
    done = [f for f in flows if f.status == "done" and "processing_ms" in f.server_timings]
    overhead = [
        (f.server_timings["processing_ms"] - (f.server_timings.get("model_ms") or 0)) / 1000
        for f in done
    ]
    return {
        "users": users,
        "done": len(done),
        "not_done": users - len(done),
        "cache_hits": sum(1 for f in done if f.cache_hit),
        "stack_overhead_server_ms": ms(overhead),
    }
