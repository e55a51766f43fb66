"""The Redis client count the services and workers export (the release gate reads it from the
cluster's Prometheus): the real server's count, and a failed read flagged, never a stale pass."""

from __future__ import annotations

import pytest
import redis
from prometheus_client import REGISTRY

from harness.stack.processes import free_port
from reference.common.settings import Settings
from reference.workers.metrics import sample_redis

pytestmark = pytest.mark.integration


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def test_the_gauge_is_the_server_client_count() -> None:
    settings = Settings()
    extra = [redis.Redis.from_url(settings.redis_url) for _ in range(3)]
    try:
        for client in extra:
            client.ping()  # three more connections the server counts
        clients = sample_redis(settings)
    finally:
        for client in extra:
            client.close()
    assert clients >= 4  # the three above and the sampler's own
    assert _gauge("wastecoach_redis_connected_clients") == clients
    assert _gauge("wastecoach_redis_sample_failed") == 0


def test_a_failed_read_is_flagged() -> None:
    unreachable = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.ConnectionError):
        sample_redis(unreachable, timeout=1)
    assert _gauge("wastecoach_redis_sample_failed") == 1
