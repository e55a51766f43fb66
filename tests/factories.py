"""Plain factories for tests: the fakes as child processes, photos, jobs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx

from harness.mocks import catalog
from harness.stack.processes import ManagedProcess, free_port
from harness.stack.waits import wait_for

LOG_DIR = Path(tempfile.gettempdir()) / "wastecoach-test-logs"


class ServedProcess:
    """A fake in a child process, listening at ``base``."""

    def __init__(self, process: ManagedProcess, base: str) -> None:
        self.process = process
        self.base = base

    def url(self) -> str:
        return self.base


class FakeServer(ServedProcess):
    """A fake driven over its admin API (:mod:`harness.mocks.admin`); ``TEST_CONFIG`` is the
    config tests start from (fast, no faults)."""

    TEST_CONFIG: ClassVar[dict[str, Any]] = {}

    def configure(self, **fields: Any) -> None:
        """The current config with ``fields`` changed."""
        current = httpx.get(f"{self.base}/_mock/config").json()
        answer = httpx.put(f"{self.base}/_mock/config", json={**current, **fields})
        answer.raise_for_status()

    def reset(self, **fields: Any) -> None:
        """Back to the test config with ``fields`` on top, and zeroed stats."""
        config = {**self.TEST_CONFIG, **fields}
        httpx.put(f"{self.base}/_mock/config", json=config).raise_for_status()
        httpx.post(f"{self.base}/_mock/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/_mock/stats").json()


TEST_OPENAI: dict[str, Any] = {
    "latency": {"kind": "fixed", "seconds": 0.02},
    "classify_latency": {"kind": "fixed", "seconds": 0.02},
}
# Fast and faultless, with the services' development key.
TEST_KAKAO: dict[str, Any] = {"latency": {"kind": "fixed", "seconds": 0.05}}


class MockOpenAIServer(FakeServer):
    """The mock OpenAI server in a child process."""

    TEST_CONFIG: ClassVar[dict[str, Any]] = TEST_OPENAI

    @property
    def base_url(self) -> str:
        return f"{self.base}/v1"


class FakeKakao(FakeServer):
    """The fake Kakao Local API in a child process."""

    TEST_CONFIG: ClassVar[dict[str, Any]] = TEST_KAKAO


class FakeProviders(FakeServer):
    """The fake OAuth providers in a child process, without latency by default."""

    TEST_CONFIG: ClassVar[dict[str, Any]] = {"latency_seconds": 0.0}

    def url(self, provider: str = "") -> str:  # type: ignore[override]
        return f"{self.base}/{provider}" if provider else self.base

    def fault(self, **fault: Any) -> None:
        httpx.post(f"{self.base}/_mock/faults", json=fault).raise_for_status()

    def add_user(self, **user: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.base}/_mock/users", json=user)
        answer.raise_for_status()
        return answer.json()


@contextmanager
def served(
    name: str, module: str, args: list[str], health: str = "/healthz"
) -> Iterator[tuple[ManagedProcess, str]]:
    """``python -m module --port P *args`` on a free port, once ``health`` answers 200."""
    port = free_port()
    process = ManagedProcess.python_module(
        f"{name}-{port}", module, ["--port", str(port), *args], {}, LOG_DIR
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}{health}", timeout=1).status_code == 200,
            timeout=30,
            describe=f"{name} (python -m {module}) on port {port}",
            abort=process.death,
        )
        yield process, base
    finally:
        process.stop()


@contextmanager
def start_moto() -> Iterator[ServedProcess]:
    args = ["--bucket", "wastecoach-images"]
    with served("moto", "harness.mocks.s3_server", args, "/") as (process, base):
        yield ServedProcess(process, base)


@contextmanager
def start_mock_openai() -> Iterator[MockOpenAIServer]:
    args = ["--latency", "fixed:0.02", "--classify-latency", "fixed:0.02", "--log-level", "warning"]
    with served("openai", "harness.mocks.openai_server", args) as (process, base):
        yield MockOpenAIServer(process, base)


@contextmanager
def start_fake_kakao(*args: str) -> Iterator[FakeKakao]:
    with served("kakao", "harness.mocks.kakao_server", ["--log-level", "warning", *args]) as (
        process,
        base,
    ):
        yield FakeKakao(process, base)


@contextmanager
def start_fake_oauth(*args: str) -> Iterator[FakeProviders]:
    args_ = ["--latency", "0", "--log-level", "warning", *args]
    with served("oauth", "harness.mocks.oauth_server", args_) as (process, base):
        yield FakeProviders(process, base)


def photo(key: str = "water_bottle", seed: int = 0) -> bytes:
    """A catalog photo; its true category is ``catalog.get(key).category``."""
    return catalog.render(catalog.get(key), seed=seed)
