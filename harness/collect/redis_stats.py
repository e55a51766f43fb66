"""Redis: the run's connected clients (a leaked pool once reached ~900), hits, misses, memory.

A run names every connection of its stack (``client_name`` in the Redis URL it gives the
stack, which redis-py and Celery's result backend both honour), so on a shared server the
clients gate counts the run's own connections, not other runs'.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from harness.collect.series import Point, point


def with_client_name(url: str, name: str | None) -> str:
    """``url`` whose connections announce themselves as ``name`` (CLIENT SETNAME); with
    ``None``, unnamed."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "client_name"]
    if name is not None:
        query.append(("client_name", name))
    return urlunsplit(parts._replace(query=urlencode(query)))


def client_name(url: str) -> str | None:
    """The connection name ``url`` gives its clients, if any."""
    return dict(parse_qsl(urlsplit(url).query)).get("client_name")


class RedisSampler:
    """Samples the server; with a named URL, ``redis_clients`` counts that name's connections
    (the sampler's own connection is unnamed, so it is never one of them)."""

    def __init__(self, url: str) -> None:
        self.name = client_name(url)
        self.client = redis.Redis.from_url(with_client_name(url, None), socket_timeout=5)

    def close(self) -> None:
        self.client.close()

    def _clients(self, info: dict) -> int:
        if self.name is None:
            return int(info.get("connected_clients", 0))
        return sum(1 for c in self.client.client_list() if c.get("name") == self.name)

    def sample(self) -> list[Point]:
        info = self.client.info()
        now = time.time()
        return [
            point(now, "redis_clients", self._clients(info)),
            point(now, "redis_keyspace_hits", info.get("keyspace_hits", 0)),
            point(now, "redis_keyspace_misses", info.get("keyspace_misses", 0)),
            point(now, "redis_used_memory_bytes", info.get("used_memory", 0)),
        ]
