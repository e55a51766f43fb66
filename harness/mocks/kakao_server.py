"""A fake of the Kakao Local API's keyword search, for ``map.search`` on the api worker.

``GET /v2/local/search/keyword.json?query=&x=&y=&radius=&page=&size=&sort=`` answers like Kakao
(``documents`` with place_name, address_name, road_address_name, x, y, distance as strings,
category_name, phone, place_url, id; ``meta`` with total_count, pageable_count, is_end,
same_name), deterministically: the same query near the same position gives the same places,
generated inside the radius around x/y (Seoul City Hall when no position is given). A query
containing ``EMPTY_MARKER`` finds nothing. It requires ``Authorization: KakaoAK <key>`` (401
with Kakao's ``errorType``/``message`` body otherwise) and behaves like a remote service:
latency drawn from a distribution (the seed's 0.5 s by default) and slept asynchronously, 500
and 503 errors, 429 rate limiting, and requests held past any client timeout.

``python -m harness.mocks.kakao_server --port 8081``; admin: ``GET/PUT /_mock/config``,
``GET /_mock/stats``, ``POST /_mock/reset``, ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.mocks import cli_config
from harness.mocks.admin import add_admin_routes
from harness.mocks.openai_config import Latency, LognormalLatency, Rate
from harness.mocks.seeded import SeededFake
from reference.common.settings import DEV_SECRET
from reference.locations.places import DISTRICTS, District

KEYWORD_PATH = "/v2/local/search/keyword.json"
EMPTY_MARKER = "없는장소"
CITY_HALL = (37.5663, 126.9779)  # where Kakao searches from when no position is given
EARTH_RADIUS_M = 6_371_008.8
_SHORT_CITY = {"충청북도": "충북", "충청남도": "충남", "경상남도": "경남", "경상북도": "경북"}
_BRANCHES = ("본점", "중앙점", "역점", "사거리점", "시장점", "센터", "1호점", "2호점")
_CATEGORIES = (  # words in the query -> Kakao's category_name, group code and group name
    (("약국",), "의료,건강 > 약국", "PM9", "약국"),
    (
        ("주민센터", "행정복지센터", "구청"),
        "사회,공공기관 > 행정기관 > 행정복지센터",
        "PO3",
        "공공기관",
    ),
    (("수거함", "재활용", "폐건전지", "의류", "폐가전"), "사회,공공기관 > 환경시설", "", ""),
    (("마트",), "가정,생활 > 슈퍼마켓 > 대형마트", "MT1", "대형마트"),
)


class MockKakaoConfig(BaseModel):
    """How the fake behaves. Fault rates are shares of calls and together at most 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The seed: map.search takes about 0.5 s.
    latency: Latency = Field(default_factory=lambda: LognormalLatency(median=0.5, sigma=0.25))
    error_rate: Rate = 0.0  # half 500 (after the latency), half 503 (at once)
    rate_limit_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    # Not scaled by time_scale: a held request has to outlast the client's real timeout.
    hang_seconds: float = Field(30.0, ge=0)
    # The REST API key the Authorization header must carry (the services' development default).
    rest_key: str = Field(DEV_SECRET, min_length=1)
    seed: int = 0
    time_scale: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        total = self.error_rate + self.rate_limit_rate + self.timeout_rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}; they must total at most 1")
        return self


@dataclass(frozen=True)
class Reply:
    outcome: str
    status: int
    body: dict[str, Any]
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def _error(error_type: str, message: str) -> dict[str, str]:
    return {"errorType": error_type, "message": message}


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _nearest_district(lat: float, lon: float) -> District:
    return min(DISTRICTS, key=lambda d: _distance_m(lat, lon, d.lat, d.lon))


def _category(query: str) -> tuple[str, str, str]:
    for words, name, code, group in _CATEGORIES:
        if any(word in query for word in words):
            return name, code, group
    return "생활,편의 > 생활편의시설", "", ""


def places_for(query: str, lat: float, lon: float, radius: int) -> tuple[int, list[dict[str, Any]]]:
    """The total count and the (at most 45) pageable places for a search, in accuracy order."""
    if EMPTY_MARKER in query:
        return 0, []
    identity = f"{query.casefold()}|{lat:.4f}|{lon:.4f}|{radius}"
    rng = random.Random(hashlib.sha256(identity.encode()).hexdigest())
    total = rng.randint(1, 120)
    category, group_code, group_name = _category(query)
    places = []
    for _ in range(min(total, 45)):
        distance, bearing = radius * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        p_lat = lat + math.degrees(distance * math.cos(bearing) / EARTH_RADIUS_M)
        p_lon = lon + math.degrees(
            distance * math.sin(bearing) / (EARTH_RADIUS_M * math.cos(math.radians(lat)))
        )
        district = _nearest_district(p_lat, p_lon)
        city = _SHORT_CITY.get(district.city, district.city[:2])
        dong = rng.choice(district.dongs)
        place_id = str(rng.randint(10_000_000, 1_999_999_999))
        phone = f"{district.area_code}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        places.append(
            {
                "id": place_id,
                "place_name": f"{query} {dong.rstrip('0123456789·가동')} {rng.choice(_BRANCHES)}",
                "category_name": category,
                "category_group_code": group_code,
                "category_group_name": group_name,
                "phone": phone if rng.random() < 0.8 else "",
                "address_name": f"{city} {district.name} {dong} {rng.randint(1, 999)}-"
                f"{rng.randint(1, 60)}",
                "road_address_name": f"{city} {district.name} {rng.choice(district.roads)} "
                f"{rng.randint(1, 420)}"
                if rng.random() < 0.9
                else "",
                "x": f"{p_lon:.13f}",
                "y": f"{p_lat:.13f}",
                "place_url": f"http://place.map.kakao.com/{place_id}",
            }
        )
    return total, places


def _int_param(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    try:
        value = default if raw in (None, "") else int(raw)
    except ValueError:
        raise _BadRequest("InvalidArgument", f"{name} is not a number: {raw!r}") from None
    if not low <= value <= high:
        raise _BadRequest("InvalidArgument", f"{name} must be {low} <= {name} <= {high}")
    return value


class _BadRequest(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.body = _error(error_type, message)


def keyword_answer(params: Any) -> dict[str, Any]:
    """Kakao's answer to valid query parameters; :class:`_BadRequest` for invalid ones."""
    query = (params.get("query") or "").strip()
    if not query:
        raise _BadRequest("MissingParameter", "query parameter required")
    x, y = params.get("x"), params.get("y")
    try:
        position = (float(y), float(x)) if x and y else None
    except ValueError:
        raise _BadRequest("InvalidArgument", f"x and y must be numbers: {x!r}, {y!r}") from None
    radius = _int_param(params, "radius", 20_000, 0, 20_000)
    page = _int_param(params, "page", 1, 1, 45)
    size = _int_param(params, "size", 15, 1, 15)
    sort = params.get("sort") or "accuracy"
    if sort not in ("accuracy", "distance"):
        raise _BadRequest("InvalidArgument", f"sort must be accuracy or distance: {sort!r}")
    lat, lon = position or CITY_HALL
    total, places = places_for(query, lat, lon, max(radius, 1))
    for place in places:
        metres = _distance_m(lat, lon, float(place["y"]), float(place["x"]))
        place["distance"] = str(round(metres)) if position else ""
    if sort == "distance" and position:
        places.sort(key=lambda place: int(place["distance"]))
    documents = places[(page - 1) * size : page * size]
    meta = {
        "total_count": total,
        "pageable_count": len(places),
        "is_end": page * size >= len(places),
        "same_name": {"region": [], "keyword": query, "selected_region": ""},
    }
    return {"meta": meta, "documents": documents}


class MockKakao(SeededFake[MockKakaoConfig]):
    """Config, seeded draws and stats of one fake. Thread-safe."""

    OUTCOMES = (
        "ok",
        "server_error",
        "unavailable",
        "rate_limited",
        "timeout",
        "unauthorized",
        "bad_request",
    )

    def __init__(self, config: MockKakaoConfig | None = None) -> None:
        super().__init__(config or MockKakaoConfig())

    def _zero(self) -> None:
        self._outcomes: Counter[str] = Counter(dict.fromkeys(self.OUTCOMES, 0))
        self._queries: Counter[str] = Counter()
        self._delays: list[float] = []

    def reply(self, authorization: str | None, params: Any) -> Reply:
        """Decide the answer to one keyword search, and count it."""
        config = self.config
        scheme, _, key = (authorization or "").partition(" ")
        if scheme != "KakaoAK" or not key.strip():
            return self._record(
                Reply("unauthorized", 401, _error("AccessDeniedError", "cannot find appkey"))
            )
        if key.strip() != config.rest_key:
            return self._record(
                Reply("unauthorized", 401, _error("AccessDeniedError", "appkey is not valid"))
            )
        try:
            body = keyword_answer(params)
        except _BadRequest as exc:
            return self._record(Reply("bad_request", 400, exc.body))
        with self._lock:
            draw, pick = self._rng.random(), self._rng.random()
            delay = config.latency.sample(self._rng) * config.time_scale
            keyword = body["meta"]["same_name"]["keyword"]
            if keyword in self._queries or len(self._queries) < 1000:  # bounded under load
                self._queries[keyword] += 1
        limited = config.rate_limit_rate
        failed = limited + config.error_rate
        held = failed + config.timeout_rate
        if draw < limited:
            reply = Reply(
                "rate_limited", 429, _error("RateLimitExceeded", "API limit has been exceeded.")
            )
        elif draw < failed and pick < 0.5:
            reply = Reply(
                "server_error", 500, _error("InternalServerError", "Internal error"), delay
            )
        elif draw < failed:
            reply = Reply("unavailable", 503, _error("ServiceUnavailable", "Service unavailable"))
        elif draw < held:
            reply = Reply("timeout", 200, body, config.hang_seconds)
        else:
            reply = Reply("ok", 200, body, delay)
        return self._record(reply)

    def _record(self, reply: Reply) -> Reply:
        with self._lock:
            self._outcomes[reply.outcome] += 1
            if reply.outcome not in ("unauthorized", "bad_request"):
                self._delays.append(reply.delay)
                del self._delays[:-10_000]  # bounded over long load runs
        return reply

    def stats(self) -> dict[str, Any]:
        """Calls by outcome, searches by keyword, the delays applied (seconds), concurrency."""
        with self._lock:
            delays = sorted(self._delays)
            summary: dict[str, Any] = {"count": len(delays)}
            if delays:
                summary |= {
                    "min": delays[0],
                    "mean": sum(delays) / len(delays),
                    "p50": delays[len(delays) // 2],
                    "p95": delays[max(0, math.ceil(0.95 * len(delays)) - 1)],
                    "max": delays[-1],
                }
            return {
                "calls": sum(self._outcomes.values()),
                "outcomes": dict(self._outcomes),
                "queries": dict(self._queries),
                "latency_seconds": summary,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }


def create_app(config: MockKakaoConfig | None = None) -> FastAPI:
    """The fake as an ASGI app; ``app.state.mock`` is its :class:`MockKakao`."""
    mock = MockKakao(config)
    app = FastAPI(title="Fake Kakao Local API (wastecoach harness)", docs_url=None, redoc_url=None)
    app.state.mock = mock

    @app.get(KEYWORD_PATH)
    async def keyword(request: Request) -> JSONResponse:
        reply = mock.reply(request.headers.get("authorization"), request.query_params)
        with mock.in_flight():
            if reply.delay > 0:
                await asyncio.sleep(reply.delay)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    add_admin_routes(app, mock, MockKakaoConfig)
    return app


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m harness.mocks.kakao_server``."""
    from harness.mocks.openai_server import parse_latency  # the same latency syntax

    parser = argparse.ArgumentParser(
        prog="python -m harness.mocks.kakao_server", description="Serve the fake Kakao Local API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    cli_config.add_config_argument(parser, MockKakaoConfig)
    parser.add_argument(
        "--latency", type=parse_latency, help="e.g. lognormal:0.5:0.25 (the default), fixed:0.5"
    )
    for flag in ("error-rate", "rate-limit-rate", "timeout-rate", "hang-seconds", "time-scale"):
        parser.add_argument(f"--{flag}", type=float)
    parser.add_argument("--rest-key", help="the key clients must send (default: the dev key)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--log-level", default="info")
    return parser


def config_from_args(args: argparse.Namespace) -> MockKakaoConfig:
    """The config file (if any) with the flags given on top; ``ValueError`` explains a bad one."""
    return cli_config.config_from_args(args, MockKakaoConfig, "fake Kakao")


def main(argv: list[str] | None = None) -> None:
    """Serve the fake until interrupted."""
    cli_config.serve(build_parser(), MockKakaoConfig, "fake Kakao", create_app, argv)


if __name__ == "__main__":
    main()
