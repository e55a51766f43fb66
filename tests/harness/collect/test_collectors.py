from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import redis
from kombu import Connection, Producer

from harness.collect.prometheus import PrometheusSampler
from harness.collect.rabbitmq import RabbitSampler
from harness.collect.redis_stats import RedisSampler, client_name, with_client_name
from harness.collect.resources import ResourceSampler, Watched
from harness.collect.sampler import Sampler
from harness.collect.series import Series, point
from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.common import topology

METRICS = """# HELP wastecoach_cache_lookups_total x
# TYPE wastecoach_cache_lookups_total counter
wastecoach_cache_lookups_total{mode="analyze",result="hit"} 7.0
wastecoach_cache_lookups_total{mode="analyze",result="miss"} 3.0
# HELP python_gc_objects_collected_total y
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1.0
"""


def test_prometheus_keeps_our_metrics_with_labels() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=METRICS))
    sampler = PrometheusSampler(
        {"worker-ai": "http://w/metrics"}, httpx.Client(transport=transport)
    )
    points = {(p.metric, p.tag("result")): p.value for p in sampler.sample()}
    assert points == {
        ("wastecoach_cache_lookups_total", "hit"): 7.0,
        ("wastecoach_cache_lookups_total", "miss"): 3.0,
    }


def test_prometheus_counts_a_target_that_does_not_answer() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sampler = PrometheusSampler(
        {"gw": "http://x/metrics"}, httpx.Client(transport=httpx.MockTransport(refuse))
    )
    assert [(p.metric, p.tag("target")) for p in sampler.sample()] == [("scrape_failures", "gw")]


def test_series_round_trips_through_csv(tmp_path: Path) -> None:
    series = Series()
    series.add([point(1.5, "queue_depth", 3, queue="q.ai"), point(2.0, "redis_clients", 12)])
    series.write_csv(tmp_path / "s.csv")
    again = Series.read_csv(tmp_path / "s.csv")
    assert again.points == series.points
    assert [p.value for p in again.select("queue_depth", queue="q.ai")] == [3.0]


def test_resources_sample_this_process_and_the_storage_tier() -> None:
    sampler = ResourceSampler([Watched("pytest", "load", os.getpid())])
    sum(i * i for i in range(200_000))  # some CPU to measure
    points = sampler.sample()
    tiers = {p.tag("tier") for p in points}
    assert "load" in tiers
    rss = [p.value for p in points if p.metric == "rss_bytes" and p.tag("process") == "pytest"]
    assert rss and rss[0] > 10 * 2**20


def test_a_failing_collector_is_recorded_not_fatal() -> None:
    series = Series()

    def broken() -> list:
        raise RuntimeError("boom")

    sampler = Sampler({"ok": lambda: [point(1, "x", 1)], "broken": broken}, series)
    sampler.sample_once()
    assert [p.metric for p in series.points] == ["x", "collector_errors"]
    assert sampler.errors == {"broken": "RuntimeError: boom"}


@pytest.mark.integration
def test_rabbitmq_sampler_sees_depth_of_our_queues(broker: Connection, sandbox: Sandbox) -> None:
    Producer(broker.default_channel).publish({}, exchange=topology.EXCHANGE, routing_key="batch.x")
    sampler = RabbitSampler(sandbox.broker_url)

    def batch_depth() -> float | None:
        for p in sampler.sample():
            if p.metric == "queue_depth" and p.tag("queue") == "q.batch" and p.value == 1:
                return p.value
        return None

    try:
        # The management API's statistics lag a few seconds behind the broker.
        assert wait_for(batch_depth, timeout=30, interval=0.5, describe="q.batch depth 1") == 1
        names = {p.tag("queue") for p in sampler.sample() if p.metric == "queue_depth"}
    finally:
        sampler.close()
    assert names == {spec.name for spec in topology.QUEUES}


@pytest.mark.integration
def test_redis_sampler(sandbox: Sandbox) -> None:
    sampler = RedisSampler(sandbox.servers.redis_url)
    try:
        points = {p.metric: p.value for p in sampler.sample()}
    finally:
        sampler.close()
    assert points["redis_clients"] >= 1
    assert set(points) == {
        "redis_clients",
        "redis_keyspace_hits",
        "redis_keyspace_misses",
        "redis_used_memory_bytes",
    }


@pytest.mark.integration
def test_redis_sampler_counts_the_runs_own_clients(sandbox: Sandbox) -> None:
    """The stack's settings name its connections after the run: other clients of a shared
    server (other runs, this test's own) are not counted, the run's are, each one."""
    assert client_name(sandbox.settings().redis_url) == sandbox.name
    # A name of this test's own: in-process pools of earlier tests may hold the sandbox's.
    url = with_client_name(sandbox.servers.redis_url, f"{sandbox.name}-sampler-test")
    stranger = redis.Redis.from_url(sandbox.servers.redis_url, single_connection_client=True)
    ours: list[redis.Redis] = []
    sampler = RedisSampler(url)
    try:
        stranger.ping()
        counts = []
        for _ in range(3):
            ours.append(redis.Redis.from_url(url, single_connection_client=True))
            ours[-1].ping()
            counts.append(next(p.value for p in sampler.sample() if p.metric == "redis_clients"))
    finally:
        for client in (stranger, *ours):
            client.close()
        sampler.close()
    assert counts == [1, 2, 3]


def test_client_names_round_trip_through_the_url() -> None:
    url = with_client_name("redis://127.0.0.1:6379/0?socket_timeout=5", "wc_run")
    assert client_name(url) == "wc_run"
    assert "socket_timeout=5" in url
    assert client_name(with_client_name(url, None)) is None
    assert client_name(with_client_name(url, "other")) == "other"
