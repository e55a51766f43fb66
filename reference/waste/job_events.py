"""Job progress changes, pushed: one Redis pub/sub subscription per process, fanned out to the
event streams that follow a job.

Whatever writes a job's progress (``ProgressStore``) announces the job's id on one channel in the
same round trip. Each API process subscribes once and wakes the streams of that job, which then
read the job's state; a stream no longer reads Redis on a timer. Pub/sub is at most once (a
message sent while the subscription reconnects is lost), so a stream also reads the state when it
has heard nothing for ``RECHECK_SECONDS``; while the subscription is down, every
``POLL_SECONDS`` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterator

import redis

from reference.common.cache import Keys, get_async_redis
from reference.common.settings import Settings

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0
POLL_SECONDS = 0.2
RECONNECT_SECONDS = 1.0


class JobEvents:
    """The process's subscription to ``channel`` and the streams waiting on each job."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.subscribed = False
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the job's progress may have changed (and when the subscription
        drops, so the stream reads the state itself)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())
        changed = asyncio.Event()
        self.waiters.setdefault(job_id, set()).add(changed)
        try:
            yield changed
        finally:
            waiting = self.waiters.get(job_id, set())
            waiting.discard(changed)
            if not waiting:
                self.waiters.pop(job_id, None)

    def wait_seconds(self) -> float:
        """How long a stream waits for a change before reading the state anyway."""
        return RECHECK_SECONDS if self.subscribed else POLL_SECONDS

    def _wake(self, job_id: str) -> None:
        for event in list(self.waiters.get(job_id, ())):
            event.set()

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = get_async_redis(self.redis_url).pubsub(ignore_subscribe_messages=True)
                async with pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed = True
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None and message["type"] == "message":
                            self._wake(message["data"].decode())
            except (redis.RedisError, OSError) as exc:
                if self.subscribed:
                    log.warning("job events subscription lost (%s); streams poll meanwhile", exc)
                self.subscribed = False
                for waiting in list(self.waiters.values()):
                    for event in waiting:
                        event.set()
                await asyncio.sleep(RECONNECT_SECONDS)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, JobEvents]]
_BY_LOOP = weakref.WeakKeyDictionary()


def job_events(settings: Settings) -> JobEvents:
    """The running loop's subscription for the settings' Redis and prefix."""
    channel = Keys(settings.redis_prefix).job_events()
    per_loop = _BY_LOOP.setdefault(asyncio.get_running_loop(), {})
    key = f"{settings.redis_url} {channel}"
    if key not in per_loop:
        per_loop[key] = JobEvents(settings.redis_url, channel)
    return per_loop[key]
