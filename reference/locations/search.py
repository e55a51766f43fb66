"""Keyword search from the API side: the Redis cache, then ``map.search`` on ``q.api``.

The API publishes the task with the topology's route and the seed's priority for q.api (5),
then waits for its result through the Celery result backend (Redis). Answers are cached by
normalised query and a position rounded to about 100 m; distances are always recomputed from
the caller's exact position, so a cached answer is as right as a fresh one.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from datetime import UTC, datetime, timedelta

from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from pydantic import ValidationError

from reference.common.cache import get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings
from reference.common.telemetry import CACHE_LOOKUPS
from reference.locations.geo import haversine_m
from reference.locations.kakao import MapSearchError
from reference.locations.schemas import MapAnswer, PlaceOut, SearchOut
from reference.workers.publisher import publisher_for

log = logging.getLogger(__name__)

TASK = "map.search"
API_PRIORITY = 5  # the seed's priority for q.api work
QUERY_MAX_CHARS = 100
# Positions are rounded to this many decimals (about 110 m of latitude) for the cache and for
# the provider, so nearby callers share answers.
POSITION_DECIMALS = 3


def normalise_query(raw: str) -> str:
    """NFC, single spaces, trimmed; 422 ``invalid_query`` when empty or too long."""
    query = " ".join(unicodedata.normalize("NFC", raw).split())
    if not query or len(query) > QUERY_MAX_CHARS:
        raise ApiError(
            422,
            "invalid_query",
            f"q must hold 1 to {QUERY_MAX_CHARS} characters besides spaces",
            field="q",
        )
    return query


def cache_key(settings: Settings, query: str, lat: float, lon: float, radius: int) -> str:
    identity = (
        f"{query.casefold()}|{lat:.{POSITION_DECIMALS}f}|{lon:.{POSITION_DECIMALS}f}|{radius}"
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"{settings.redis_prefix}cache:map:{digest}"


def _cached(settings: Settings, key: str) -> MapAnswer | None:
    raw = get_redis(settings.redis_url).get(key)
    if raw is None:
        return None
    try:
        return MapAnswer.model_validate_json(raw)
    except ValidationError:
        return None  # written by an older version: ask again


def _ask_worker(settings: Settings, query: str, lat: float, lon: float, radius: int) -> MapAnswer:
    publisher = publisher_for(settings)
    wait = settings.map_search_wait_seconds
    try:
        # The publisher's one-time declaration of the topology (queues with their arguments),
        # as for waste's jobs; map.search carries keyword arguments, so it is sent directly.
        publisher._declare_once()
        result: AsyncResult = publisher.celery.send_task(
            TASK,
            kwargs={"query": query, "lat": lat, "lon": lon, "radius": radius},
            priority=API_PRIORITY,
            # Nobody waits for the answer after this. Celery also makes it the message's AMQP
            # expiration, so RabbitMQ dead-letters a stale search (x-death reason "expired")
            # rather than a backlogged worker calling Kakao for nobody.
            expires=datetime.now(UTC) + timedelta(seconds=wait),
            ignore_result=False,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
        )
    except Exception as exc:
        raise ApiError(
            503,
            "broker_unavailable",
            "could not queue the search, retry later",
        ) from exc
    try:
        value = result.get(timeout=wait, propagate=False)
        state = result.state
    except CeleryTimeout:
        raise ApiError(
            504, "map_timeout", f"the map search did not answer within {wait:g} s; retry later"
        ) from None
    finally:
        result.forget()  # the answer lives in the search cache; the backend's copy can go
    if state == "SUCCESS":
        return MapAnswer.model_validate(value)
    if isinstance(value, MapSearchError):
        status = 504 if value.code == "map_timeout" else 502
        # Kakao's own error text stays in the log: clients get the code and a fixed message.
        log.warning("map search failed: %s: %s", value.code, value.message)
        raise ApiError(
            status,
            value.code,
            "the map search did not finish in time; try again"
            if status == 504
            else "the map search is not available; try again later",
            upstream_status=value.upstream_status,
        )
    if state == "REVOKED":
        raise ApiError(504, "map_timeout", "the map search expired before a worker took it")
    log.warning("map search failed in the worker: %r", value)
    raise ApiError(502, "map_unavailable", "the map search failed; try again later")


def search(
    settings: Settings, raw_query: str, lat: float, lon: float, radius: int, limit: int
) -> SearchOut:
    query = normalise_query(raw_query)
    near_lat, near_lon = round(lat, POSITION_DECIMALS), round(lon, POSITION_DECIMALS)
    key = cache_key(settings, query, near_lat, near_lon, radius)
    answer = _cached(settings, key)
    CACHE_LOOKUPS.labels(TASK, *(("miss", "none") if answer is None else ("hit", "exact"))).inc()
    cached = answer is not None
    if answer is None:
        answer = _ask_worker(settings, query, near_lat, near_lon, radius)
        if settings.map_search_cache_seconds > 0:
            get_redis(settings.redis_url).set(
                key, answer.model_dump_json(), ex=settings.map_search_cache_seconds
            )
    places = sorted(
        (
            PlaceOut(
                **place.model_dump(),
                distance_m=round(haversine_m(lat, lon, place.lat, place.lon), 1),
            )
            for place in answer.places
        ),
        key=lambda place: (place.distance_m, place.id),
    )
    return SearchOut(
        query=query,
        lat=lat,
        lon=lon,
        radius=radius,
        cached=cached,
        total_count=answer.total_count,
        places=places[:limit],
    )
