"""Reading the registry's PromQL from a real Prometheus: a full window is recorded, and every way
of falling short (unreachable, no series, a gap from failed scrapes) is inconclusive with the
reason, never a pass."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harness.collect.promql import PrometheusSource, prometheus_metrics
from harness.gates.evaluate import Verdict, evaluate_gate
from harness.gates.measurements import Samples
from harness.gates.model import Gate
from harness.stack.processes import free_port
from harness.stack.waits import wait_for
from tests.harness.collect.prometheus_server import SCRAPE_SECONDS, prometheus_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REDIS_GATE = Gate(metric="redis_clients", thresholds=("max < 200",))
BACKLOG_GATE = Gate(metric="queue_depth", tags={"queue": "q.batch"}, thresholds=("max >= 3",))


class FakeExporter:
    """Serves a process's gauges (7 Redis clients, 4 messages in q.batch); while
    ``failing`` is set, every scrape gets a 500 (Prometheus marks the series stale)."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.failing.is_set():
                    self.send_response(500)
                    self.end_headers()
                    return
                body = (
                    b"wastecoach_redis_connected_clients 7\n"
                    b"wastecoach_redis_sample_failed 0\n"
                    b'wastecoach_queue_messages{queue="q.batch"} 4\n'
                    b"wastecoach_queue_sample_failed 0\n"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def exporter() -> Iterator[FakeExporter]:
    fake = FakeExporter()
    with fake.serving():
        yield fake


@pytest.fixture(scope="module")
def prometheus(exporter: FakeExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_server({"fake": exporter.url}, tmp_path_factory.mktemp("prom")) as url:
        yield url


def _up(prometheus: str) -> float | None:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="fake"}'})
    result = answer.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _window_of_scrapes(prometheus: str, seconds: float) -> tuple[float, float]:
    """A window that starts after the first scrape and ends once Prometheus has scraped past it."""
    wait_for(lambda: _up(prometheus) == 1.0, timeout=30, describe="the first scrape")
    start = time.time()
    end = wait_for(
        lambda: time.time() if time.time() >= start + seconds else None,
        timeout=seconds + 5,
        interval=0.2,
        describe="the window to pass",
    )
    return start, end


def _read(prometheus: str, start: float, end: float) -> tuple[Samples, list[str]]:
    samples = Samples(start=start, end=end)
    source = PrometheusSource(prometheus, step=SCRAPE_SECONDS)
    try:
        source.wait_scraped(end, timeout=10)
        return samples, source.read(samples, start=start, end=end)
    finally:
        source.close()


def test_a_full_window_is_recorded_and_judged(prometheus: str) -> None:
    start, end = _window_of_scrapes(prometheus, 4)
    samples, notes = _read(prometheus, start, end)
    clients = samples.values("redis_clients")
    assert clients and set(clients) == {7.0}
    assert len(clients) >= 4
    assert evaluate_gate(REDIS_GATE, samples).verdict is Verdict.PASS
    assert evaluate_gate(BACKLOG_GATE, samples).verdict is Verdict.PASS
    # What the fake does not export (CPU and memory by tier, q.dlq) is said, query and all.
    no_series = [note for note in notes if "returned no series" in note]
    assert {note.split(":")[0] for note in no_series} == {"dlq_length", "tier_cpu", "tier_memory"}
    assert any("container_cpu_usage_seconds_total" in note for note in no_series)
    tier_gate = Gate(metric="tier_cpu", tags={"tier": "api"}, thresholds=("avg <= 1.0",))
    result = evaluate_gate(tier_gate, samples)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "returned no series" in result.message


def test_failed_scrapes_leave_a_gap_and_the_gate_is_inconclusive(
    prometheus: str, exporter: FakeExporter
) -> None:
    wait_for(lambda: _up(prometheus) == 1.0, timeout=30, describe="a healthy scrape")
    start = time.time()
    exporter.failing.set()
    try:
        # Failed scrapes for longer than the lookback (3 scrapes): the series goes stale.
        wait_for(lambda: _up(prometheus) == 0.0, timeout=30, describe="a failed scrape")
        failed_at = time.time()
        wait_for(lambda: time.time() >= failed_at + 5 * SCRAPE_SECONDS, timeout=10, interval=0.2)
    finally:
        exporter.failing.clear()
    wait_for(lambda: _up(prometheus) == 1.0, timeout=30, describe="scrapes to recover")
    samples, notes = _read(prometheus, start, time.time())
    assert samples.values("redis_clients"), "the points around the gap are still recorded"
    result = evaluate_gate(REDIS_GATE, samples)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "steps" in result.message and "no value" in result.message, result.message
    assert any(note.startswith("redis_clients") and "has gaps" in note for note in notes)


def test_an_unreachable_prometheus_is_inconclusive_and_says_what_to_check(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    now = time.time()
    samples = Samples(start=now - 10, end=now)
    source = PrometheusSource(url, step=1)
    source.wait_scraped(now, timeout=600)  # returns at once: nothing answers there
    notes = source.read(samples, start=now - 10, end=now)
    source.close()
    assert len(notes) == len(prometheus_metrics())
    assert all("does not answer" in note and "--prometheus" in note for note in notes)
    redis_note = next(note for note in notes if note.startswith("redis_clients"))
    assert "wastecoach_redis_connected_clients" in redis_note
    samples.record("redis_clients", 1, t=now)  # even a passing value cannot pass the gate
    result = evaluate_gate(REDIS_GATE, samples)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "does not answer" in result.message
