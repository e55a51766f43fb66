"""Plain factories for tests: the fakes as child processes, photos, jobs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.mocks import catalog
from harness.processes import ManagedProcess, free_port
from harness.waits import wait_for

LOG_DIR = Path(tempfile.gettempdir()) / "wastecoach-test-logs"


class ServedProcess:
    def __init__(self, process: ManagedProcess, base: str) -> None:
        self.process = process
        self.base = base

    def url(self) -> str:
        return self.base


class MockOpenAIServer(ServedProcess):
    """The mock OpenAI server in a child process; reconfigured at run time over HTTP."""

    @property
    def base_url(self) -> str:
        return f"{self.base}/v1"

    def configure(self, **fields: Any) -> None:
        current = httpx.get(f"{self.base}/_mock/config").json()
        answer = httpx.put(f"{self.base}/_mock/config", json={**current, **fields})
        answer.raise_for_status()

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/_mock/stats").json()

    def reset(self, **fields: Any) -> None:
        """Back to the test default (fast, no faults), then ``fields`` on top."""
        httpx.put(f"{self.base}/_mock/config", json={**TEST_OPENAI, **fields}).raise_for_status()
        httpx.post(f"{self.base}/_mock/reset").raise_for_status()


TEST_OPENAI: dict[str, Any] = {
    "latency": {"kind": "fixed", "seconds": 0.02},
    "classify_latency": {"kind": "fixed", "seconds": 0.02},
}


@contextmanager
def _served(
    name: str, module: str, args: list[str], health: str
) -> Iterator[tuple[ManagedProcess, str]]:
    port = free_port()
    process = ManagedProcess.python_module(
        f"{name}-{port}", module, ["--port", str(port), *args], {}, LOG_DIR
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}{health}", timeout=1).status_code == 200,
            timeout=30,
            describe=f"{name} on port {port}",
            abort=process.death,
        )
        yield process, base
    finally:
        process.stop()


@contextmanager
def start_moto() -> Iterator[ServedProcess]:
    with _served("moto", "harness.mocks.s3_server", ["--bucket", "wastecoach-images"], "/") as (
        process,
        base,
    ):
        yield ServedProcess(process, base)


@contextmanager
def start_mock_openai() -> Iterator[MockOpenAIServer]:
    with _served(
        "openai",
        "harness.mocks.openai_server",
        ["--latency", "fixed:0.02", "--classify-latency", "fixed:0.02", "--log-level", "warning"],
        "/healthz",
    ) as (
        process,
        base,
    ):
        yield MockOpenAIServer(process, base)


def photo(key: str = "water_bottle", seed: int = 0) -> bytes:
    """A catalog photo; its true category is ``catalog.get(key).category``."""
    return catalog.render(catalog.get(key), seed=seed)
