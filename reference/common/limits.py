"""Rate limits and quotas in Redis, shared by every replica: atomic, one key per window.

A *window* limit (scans per minute, model calls per day, logins per minute) counts calls in
fixed windows (``INCR`` and ``EXPIRE`` in one ``MULTI``); a *concurrency* limit (event streams)
keeps one member per open stream in a sorted set scored by when it expires, so a stream whose
process died frees its slot by itself. A refusal is :class:`RateLimited`: 429 with
``Retry-After`` and a stable code, counted on ``/metrics``.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass

import redis

from reference.common.cache import get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings
from reference.common.telemetry import RATE_LIMITED


class RateLimited(ApiError):
    """429 with ``Retry-After``: the caller went past a limit and may retry after that long."""

    def __init__(self, code: str, message: str, *, retry_after: int, limit: str) -> None:
        super().__init__(429, code, message, limit=limit, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Window:
    """At most ``limit`` calls per ``seconds``, in windows aligned on the epoch (a day is a
    UTC day)."""

    name: str
    code: str
    seconds: int
    what: str  # "scans", for the message


SCANS = Window("scans_per_minute", "scan_rate_limited", 60, "scans")
MODEL_CALLS = Window("model_calls_per_day", "model_quota_exceeded", 24 * 3600, "analyses")
LOGINS = Window("logins_per_minute", "login_rate_limited", 60, "logins")
STREAMS = "event_streams"
STREAMS_CODE = "too_many_streams"
# A refused stream is told to retry after this long (or to poll status meanwhile).
STREAM_RETRY_SECONDS = 5


def _key(settings: Settings, name: str, subject: str) -> str:
    return f"{settings.redis_prefix}limit:{name}:{subject}"


def hit(settings: Settings, window: Window, subject: str, *, limit: int) -> None:
    """Count one call of ``subject`` (a user id or a client address); RateLimited past
    ``limit`` in the current window."""
    now = time.time()
    index = int(now // window.seconds)
    key = f"{_key(settings, window.name, subject)}:{index}"
    pipe = get_redis(settings.redis_url).pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window.seconds + 60)
    count, _ = pipe.execute()
    if int(count) > limit:
        retry_after = max(1, int((index + 1) * window.seconds - now) + 1)
        RATE_LIMITED.labels(window.name).inc()
        raise RateLimited(
            window.code,
            f"at most {limit} {window.what} per {_per(window.seconds)}; retry in {retry_after} s",
            retry_after=retry_after,
            limit=window.name,
        )


def _per(seconds: int) -> str:
    return {60: "minute", 24 * 3600: "day"}.get(seconds, f"{seconds} s")


@dataclass(frozen=True)
class Slot:
    """One held place of a concurrency limit; :func:`release` gives it back."""

    key: str
    member: str


def acquire_stream(settings: Settings, user: str, *, limit: int, hold_seconds: float) -> Slot:
    """A place among the user's ``limit`` open event streams, held at most ``hold_seconds``."""
    key = _key(settings, STREAMS, user)
    member = secrets.token_hex(8)
    now = time.time()
    client = get_redis(settings.redis_url)
    pipe = client.pipeline(transaction=True)
    pipe.zremrangebyscore(key, "-inf", now)  # places of streams that ended without a word
    pipe.zadd(key, {member: now + hold_seconds})
    pipe.zcard(key)
    pipe.expire(key, int(hold_seconds) + 60)
    _, _, count, _ = pipe.execute()
    if int(count) > limit:
        client.zrem(key, member)
        RATE_LIMITED.labels(STREAMS).inc()
        raise RateLimited(
            STREAMS_CODE,
            f"at most {limit} event streams at once; close one or poll the status",
            retry_after=STREAM_RETRY_SECONDS,
            limit=STREAMS,
        )
    return Slot(key, member)


def release(settings: Settings, slot: Slot) -> None:
    with contextlib.suppress(redis.RedisError):  # if Redis is away, the place expires by itself
        get_redis(settings.redis_url).zrem(slot.key, slot.member)
