"""The asyncio Redis pool (reference.common.cache.WaitingPool) holds at most its connections: a
caller beyond them waits for one to be released, and fails as Redis errors do once its wait is
over; connections are reused, and one that cannot connect gives its place back."""

from __future__ import annotations

import asyncio

import pytest
import redis

from reference.common.cache import WaitingPool
from reference.common.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_caller_beyond_the_connections_waits_for_one(settings: Settings) -> None:
    pool = WaitingPool.from_url(settings.redis_url, max_connections=1, timeout=5)
    try:
        held = await pool.get_connection()
        waiting = asyncio.ensure_future(pool.get_connection())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await pool.release(held)
        assert await asyncio.wait_for(waiting, timeout=5) is held  # the same one, reused
        await pool.release(held)
    finally:
        await pool.disconnect()


async def test_a_wait_that_outlasts_the_timeout_is_a_redis_error(settings: Settings) -> None:
    pool = WaitingPool.from_url(settings.redis_url, max_connections=1, timeout=0.1)
    try:
        held = await pool.get_connection()
        with pytest.raises(redis.ConnectionError, match="No connection available"):
            await pool.get_connection()
        await pool.release(held)
        await pool.release(await pool.get_connection())  # the place was not lost
    finally:
        await pool.disconnect()


async def test_a_connection_that_fails_gives_its_place_back() -> None:
    pool = WaitingPool.from_url("redis://127.0.0.1:1/0", max_connections=1, timeout=0.1)
    for _ in range(3):  # a lost place would make the second attempt wait, then time out
        with pytest.raises(redis.ConnectionError, match=r"connecting to 127\.0\.0\.1:1"):
            await pool.get_connection()
