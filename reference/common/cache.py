"""Redis: one connection pool per process and URL (a leaked pool per call once reached ~900
clients in production), and the deployment's key prefix."""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache
from typing import Any

import redis
import redis.asyncio

# A Redis that hangs (not one that refuses) must become an error the caller retries, not a
# worker greenlet or request blocked for ever with its message unacknowledged.
SOCKET_TIMEOUT_SECONDS = 5.0
ASYNC_MAX_CONNECTIONS = 16


@lru_cache(maxsize=8)
def get_redis(url: str) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=50,
        timeout=5,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    return redis.Redis(connection_pool=pool, decode_responses=False)


class WaitingPool(redis.asyncio.ConnectionPool):
    """At most ``max_connections`` connections; a caller beyond them waits for one, up to
    ``timeout`` seconds, as with redis-py's ``BlockingConnectionPool``. That pool takes a
    condition, a timer and two context managers for every command, even with a connection
    free: a twelfth of a status poll's instructions. Here a free connection costs a semaphore
    that does not wait."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._free = asyncio.Semaphore(self.max_connections)

    async def get_connection(self, *_: Any, **__: Any) -> Any:  # redis-py's own signature
        if self._free.locked():  # every connection is in use: wait for one, for so long
            try:
                async with asyncio.timeout(self.timeout):
                    await self._free.acquire()
            except TimeoutError:
                raise redis.ConnectionError("No connection available.") from None
        else:
            await self._free.acquire()  # returns at once
        try:
            connection = self.get_available_connection()
        except BaseException:
            self._free.release()
            raise
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            self._free.release()


# asyncio clients belong to the event loop they connect on: one per loop and URL (a server
# has one loop; each test client another).
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]]
_ASYNC_CLIENTS = weakref.WeakKeyDictionary()


def get_async_redis(url: str) -> redis.asyncio.Redis:
    """The running loop's asyncio client for ``url`` (the API's hot paths use it)."""
    clients = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        pool = WaitingPool.from_url(
            url,
            # A round trip takes a connection for well under a millisecond: a few serve every
            # request in flight (at 50 a process, two gateways could hold 100 of the server).
            max_connections=ASYNC_MAX_CONNECTIONS,
            timeout=5,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        client = clients[url] = redis.asyncio.Redis(connection_pool=pool)
    return client


class Keys:
    """Every Redis key of the reference, under one prefix so runs can share a server."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def classification(self, mode: str, content_key: str) -> str:
        return f"{self.prefix}cache:{mode}:{content_key}"

    def revoked(self, jti: str) -> str:
        return f"{self.prefix}revoked:{jti}"

    def revoked_user(self, user_id: str) -> str:
        return f"{self.prefix}revoked-user:{user_id}"

    def revocations_complete(self) -> str:
        """Present while Redis holds the whole deny-list (see reference.common.revocation)."""
        return f"{self.prefix}revocations-complete"

    def revocations_restoring(self) -> str:
        return f"{self.prefix}revocations-restoring"

    def job_events(self) -> str:
        """The pub/sub channel a job's progress changes are announced on (its id)."""
        return f"{self.prefix}job-events"

    def counter(self, name: str) -> str:
        return f"{self.prefix}counter:{name}"
