"""A real Prometheus server (Debian's ``prometheus`` package) for tests: loopback only, a free
port, its own data directory, scraping only the loopback targets it is given, stopped after."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from harness.stack.processes import ManagedProcess, free_port
from harness.stack.waits import wait_for

SCRAPE_SECONDS = 1


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.skip("no prometheus binary: apt-get install prometheus (.ci/run does)")
    return found


def scrape_config(targets: Mapping[str, str]) -> dict[str, object]:
    """One job per target URL (each its own metrics path); loopback targets only."""
    jobs = []
    for name, url in targets.items():
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"{name}: a test Prometheus scrapes loopback only, not {url}")
        jobs.append(
            {
                "job_name": name,
                "metrics_path": parts.path or "/metrics",
                "static_configs": [{"targets": [parts.netloc]}],
            }
        )
    return {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": "900ms"},
        "scrape_configs": jobs,
    }


def _scraped(url: str) -> int:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": "count(up == 1)"}, timeout=2)
    result = answer.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


@contextlib.contextmanager
def prometheus_server(targets: Mapping[str, str], folder: Path) -> Iterator[str]:
    """Start Prometheus scraping ``targets`` every second; yields its base URL."""
    binary = prometheus_binary()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)))
    port = free_port()
    process = ManagedProcess(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # A scrape that fails shows as a gap within 3 s, not after the default 5 minutes.
            f"--query.lookback-delta={3 * SCRAPE_SECONDS}s",
        ],
        {},
        folder / "prometheus.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200,
            timeout=60,
            describe="prometheus to be ready",
            abort=process.death,
        )
        # Target discovery reaches the scrape loops a few seconds after start-up: wait until
        # every target has been scraped, so a run's window starts on data.
        wait_for(
            lambda: _scraped(url) >= len(targets),
            timeout=60,
            interval=0.2,
            describe="prometheus to scrape every target",
            abort=process.death,
        )
        yield url
    finally:
        process.stop()
