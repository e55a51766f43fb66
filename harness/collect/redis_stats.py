"""Redis: connected clients (a leaked pool once reached ~900), hits, misses, memory."""

from __future__ import annotations

import time

import redis

from harness.collect.series import Point, point


class RedisSampler:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5)

    def close(self) -> None:
        self.client.close()

    def sample(self) -> list[Point]:
        info = self.client.info()
        now = time.time()
        return [
            point(now, "redis_clients", info.get("connected_clients", 0)),
            point(now, "redis_keyspace_hits", info.get("keyspace_hits", 0)),
            point(now, "redis_keyspace_misses", info.get("keyspace_misses", 0)),
            point(now, "redis_used_memory_bytes", info.get("used_memory", 0)),
        ]
