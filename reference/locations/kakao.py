"""The Kakao Local API client that ``map.search`` uses: keyword search near a position.

Sync ``httpx`` (the api worker runs a thread pool; nothing here needs an event loop) with one
connection pool per process and configuration. 5xx, 429, transport errors and time-outs are
retried with exponential backoff and jitter; after the last attempt, and at once for any other
4xx, :class:`MapSearchError` says what went wrong with a stable code the API answers with.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from reference.common.settings import Settings
from reference.locations.schemas import MapAnswer, Place

log = logging.getLogger(__name__)

KEYWORD_PATH = "/v2/local/search/keyword.json"
MAX_SIZE = 15  # Kakao's largest page


class MapSearchError(Exception):
    """A search the map provider did not answer: ``code`` is what the API reports.

    ``map_unavailable`` (5xx, 429, unreachable, a garbled answer), ``map_timeout`` (no answer
    in time), ``map_rejected`` (Kakao refused the request: a wrong key or argument).
    Positional arguments only, so Celery's result backend can rebuild it in the API process.
    """

    def __init__(self, code: str, message: str, upstream_status: int | None = None) -> None:
        super().__init__(code, message, upstream_status)
        self.code = code
        self.message = message
        self.upstream_status = upstream_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class _Retryable(Exception):
    def __init__(self, error: MapSearchError) -> None:
        super().__init__(str(error))
        self.error = error


class KakaoDocument(BaseModel):
    """One ``documents`` entry of Kakao's keyword search (x, y and distance are strings)."""

    id: str
    place_name: str
    category_name: str = ""
    phone: str = ""
    address_name: str = ""
    road_address_name: str = ""
    x: str
    y: str
    place_url: str = ""
    distance: str = ""


class KakaoMeta(BaseModel):
    total_count: int
    pageable_count: int = 0
    is_end: bool


class KakaoKeywordAnswer(BaseModel):
    documents: list[KakaoDocument]
    meta: KakaoMeta


@lru_cache(maxsize=4)
def _client(base_url: str, rest_key: str, timeout: float) -> httpx.Client:
    # One pool per process (and configuration), shared by the worker's threads.
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"KakaoAK {rest_key}"},
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def client_for(settings: Settings) -> httpx.Client:
    return _client(
        settings.kakao_base_url.rstrip("/"),
        settings.kakao_rest_key.get_secret_value(),
        settings.kakao_timeout_seconds,
    )


def _place(doc: KakaoDocument) -> Place:
    return Place(
        id=doc.id,
        name=doc.place_name,
        address=doc.address_name,
        road_address=doc.road_address_name or None,
        category=doc.category_name,
        phone=doc.phone or None,
        url=doc.place_url or None,
        lat=float(doc.y),
        lon=float(doc.x),
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body.get("message") or body)[:300]
    except ValueError:
        return response.text[:300]


def _call(client: httpx.Client, params: dict[str, str | int]) -> MapAnswer:
    try:
        response = client.get(KEYWORD_PATH, params=params)
    except httpx.TimeoutException as exc:
        raise _Retryable(MapSearchError("map_timeout", f"Kakao did not answer ({exc!r})")) from exc
    except httpx.TransportError as exc:
        raise _Retryable(
            MapSearchError("map_unavailable", f"Kakao unreachable ({type(exc).__name__})")
        ) from exc
    status = response.status_code
    if status >= 500 or status == 429:
        message = f"Kakao answered {status}: {_error_message(response)}"
        raise _Retryable(MapSearchError("map_unavailable", message, status))
    if status >= 400:
        message = f"Kakao refused the search ({status}): {_error_message(response)}"
        raise MapSearchError("map_rejected", message, status)
    try:
        answer = KakaoKeywordAnswer.model_validate_json(response.content)
        places = [_place(doc) for doc in answer.documents]
    except (ValidationError, ValueError) as exc:
        error = MapSearchError("map_unavailable", f"Kakao's answer is not the expected JSON: {exc}")
        raise _Retryable(error) from exc
    return MapAnswer(places=places, total_count=answer.meta.total_count, is_end=answer.meta.is_end)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("Kakao search attempt %d failed (%s); retrying", state.attempt_number, error)


def keyword_search(
    settings: Settings, query: str, lat: float, lon: float, radius_m: int, size: int = MAX_SIZE
) -> MapAnswer:
    """Places matching ``query`` within ``radius_m`` of (lat, lon), nearest first."""
    params: dict[str, str | int] = {
        "query": query,
        "x": f"{lon:.6f}",
        "y": f"{lat:.6f}",
        "radius": radius_m,
        "size": min(max(size, 1), MAX_SIZE),
        "sort": "distance",
    }
    client = client_for(settings)
    retrying = Retrying(
        retry=retry_if_exception_type(_Retryable),
        stop=stop_after_attempt(settings.kakao_attempts),
        # initial, 2 x initial, ... up to the max, plus jitter so retries do not align.
        wait=wait_exponential(
            multiplier=settings.kakao_backoff_initial_seconds,
            max=settings.kakao_backoff_max_seconds,
        )
        + wait_random(0, settings.kakao_backoff_initial_seconds),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(_call, client, params)
    except _Retryable as exc:
        raise exc.error from exc
