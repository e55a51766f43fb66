"""Synthetic runs for report tests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.collect.series import Series, point
from harness.report.rundata import RunData


def events(
    n: int, *, seed: int, scale: float = 1.0, hit_share: float = 0.7
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hit = rng.random() < hit_share
        processing = rng.uniform(150, 600) if hit else rng.uniform(2000, 5000) * scale
        model = None if hit else processing - 100
        rows.append(
            {
                "started_at": 1000.0 + i * 0.5,
                "status": "done",
                "cache_hit": hit,
                "processing_ms": processing,
                "end_to_end_ms": processing + 300,
                "server_queue_wait_ms": rng.uniform(1, 30) * scale,
                "server_processing_ms": processing - 50,
                "server_download_ms": rng.uniform(5, 20),
                "server_cache_lookup_ms": rng.uniform(1, 5),
                "model_ms": model,
                "server_store_ms": rng.uniform(5, 30),
                "expected_category": "glass",
                "got_category": "glass",
            }
        )
    return rows


def series() -> Series:
    s = Series()
    for t in range(30):
        ts = 1000.0 + t
        s.add(
            [
                point(ts, "queue_depth", t % 5, queue="q.ai"),
                point(ts, "queue_depth", 30 - t, queue="q.batch"),
                point(ts, "cpu_percent", 40 + t, process="gateway", tier="api"),
                point(ts, "rss_bytes", 80 * 2**20, process="gateway", tier="api"),
            ]
        )
    return s


def summary(verdicts: list[str]) -> dict[str, Any]:
    return {
        "run_id": "test-run",
        "scenario": {"name": "smoke", "description": "synthetic"},
        "target": "http://127.0.0.1:1",
        "started_at": "2026-11-26T00:00:00Z",
        "duration_seconds": 15.0,
        "warmup_seconds": 2.0,
        "verdict": "fail" if "fail" in verdicts else "pass",
        "headline": {"scans": 60, "p95 processing ms": "4900.0"},
        "gates": [
            {
                "name": f"gate {i}",
                "threshold": "p(95) < 5000",
                "observed_text": "4900.0",
                "samples": 60,
                "verdict": verdict,
                "message": f"because {i}",
            }
            for i, verdict in enumerate(verdicts)
        ],
        "notes": [],
    }


def run(tmp_path: Path, verdicts: list[str], **event_args: Any) -> RunData:
    return RunData(tmp_path, summary(verdicts), events(60, seed=1, **event_args), [], series())
