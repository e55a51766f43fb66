"""Redis and PostgreSQL that hang (a TCP proxy holding every byte) fail the caller within the
clients' timeouts instead of blocking it for ever."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from reference.common.cache import SOCKET_TIMEOUT_SECONDS, get_redis
from reference.common.db import CONNECT_TIMEOUT_SECONDS, dispose_engine, get_engine
from reference.common.settings import Settings
from tests.proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def paused() -> Iterator[dict[str, TcpProxy]]:
    settings = Settings()
    proxies = {
        "redis": TcpProxy.for_url(settings.redis_url, 6379),
        "postgres": TcpProxy.for_url(settings.database_url, 5432),
    }
    for proxy in proxies.values():
        proxy.pause()
    yield proxies
    for proxy in proxies.values():
        proxy.close()


def test_a_hung_redis_times_out(paused: dict[str, TcpProxy]) -> None:
    client = get_redis(paused["redis"].url(Settings().redis_url))
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.get("anything")
    assert time.monotonic() - started < SOCKET_TIMEOUT_SECONDS * 2 + 1


def test_a_hung_postgres_times_out(paused: dict[str, TcpProxy]) -> None:
    url = paused["postgres"].url(Settings().database_url)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError), get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        dispose_engine(url)
    assert time.monotonic() - started < CONNECT_TIMEOUT_SECONDS * 2 + 1
