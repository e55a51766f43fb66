"""The fake Kakao Local API: Kakao's shape and auth, determinism, faults, runtime config."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.mocks.kakao_server import (
    EMPTY_MARKER,
    KEYWORD_PATH,
    MockKakaoConfig,
    create_app,
    keyword_answer,
)
from harness.mocks.openai_config import FixedLatency
from reference.common.settings import Settings
from reference.locations.geo import haversine_m
from tests.factories import start_fake_kakao

FAST = MockKakaoConfig(latency=FixedLatency(seconds=0))
KEY = Settings().kakao_rest_key.get_secret_value()  # the services' development key
AUTH = {"Authorization": f"KakaoAK {KEY}"}
YEOKSAM = {"x": "127.0365", "y": "37.5006"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(FAST)) as test_client:
        yield test_client


def search(client: TestClient, headers: dict[str, str] | None = AUTH, **params: Any) -> Any:
    return client.get(KEYWORD_PATH, params=params, headers=headers or {})


def test_answers_like_kakao(client: TestClient) -> None:
    answer = search(client, query="폐건전지 수거함", radius=2000, sort="distance", **YEOKSAM)
    assert answer.status_code == 200
    body = answer.json()
    meta = body["meta"]
    assert set(meta) == {"total_count", "pageable_count", "is_end", "same_name"}
    assert meta["same_name"]["keyword"] == "폐건전지 수거함"
    assert meta["pageable_count"] == min(meta["total_count"], 45)
    assert 1 <= len(body["documents"]) <= 15
    fields = {
        "id", "place_name", "category_name", "category_group_code", "category_group_name",
        "phone", "address_name", "road_address_name", "x", "y", "place_url", "distance",
    }  # fmt: skip
    distances = []
    for doc in body["documents"]:
        assert set(doc) == fields
        assert all(isinstance(doc[name], str) for name in ("x", "y", "distance", "id"))
        metres = haversine_m(37.5006, 127.0365, float(doc["y"]), float(doc["x"]))
        assert metres <= 2000 + 1 and abs(int(doc["distance"]) - metres) <= 1
        assert doc["place_url"] == f"http://place.map.kakao.com/{doc['id']}"
        assert doc["address_name"].startswith("서울 ")
        distances.append(int(doc["distance"]))
    assert distances == sorted(distances)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (None, "cannot find appkey"),
        ({"Authorization": f"Bearer {KEY}"}, "cannot find appkey"),
        ({"Authorization": "KakaoAK "}, "cannot find appkey"),
        ({"Authorization": "KakaoAK wrong-key"}, "appkey is not valid"),
    ],
)
def test_the_rest_key_is_required(
    client: TestClient, headers: dict[str, str] | None, message: str
) -> None:
    answer = client.get(KEYWORD_PATH, params={"query": "약국"}, headers=headers or {})
    assert answer.status_code == 401
    assert answer.json() == {"errorType": "AccessDeniedError", "message": message}
    assert client.get("/_mock/stats").json()["outcomes"]["unauthorized"] == 1


@pytest.mark.parametrize(
    ("params", "error_type"),
    [
        ({}, "MissingParameter"),
        ({"query": "  "}, "MissingParameter"),
        ({"query": "약국", "radius": "20001"}, "InvalidArgument"),
        ({"query": "약국", "size": "16"}, "InvalidArgument"),
        ({"query": "약국", "page": "46"}, "InvalidArgument"),
        ({"query": "약국", "x": "east", "y": "37.5"}, "InvalidArgument"),
        ({"query": "약국", "sort": "rating"}, "InvalidArgument"),
    ],
)
def test_bad_arguments_are_400(client: TestClient, params: dict, error_type: str) -> None:
    answer = search(client, **params)
    assert answer.status_code == 400 and answer.json()["errorType"] == error_type


def test_the_same_search_gives_the_same_places_and_pages_cover_them(client: TestClient) -> None:
    first = search(client, query="주민센터", radius=5000, **YEOKSAM).json()
    assert search(client, query="주민센터", radius=5000, **YEOKSAM).json() == first
    other = search(client, query="주민센터", radius=5000, x="129.1636", y="35.1631").json()
    assert other["documents"][0]["address_name"].startswith("부산 ")
    assert first["documents"][0]["category_group_code"] == "PO3"
    pageable = first["meta"]["pageable_count"]
    ids: list[str] = []
    page = 1
    while True:
        body = search(client, query="주민센터", radius=5000, page=page, size=15, **YEOKSAM).json()
        ids += [doc["id"] for doc in body["documents"]]
        if body["meta"]["is_end"]:
            break
        page += 1
    assert len(ids) == len(set(ids)) == pageable


def test_without_a_position_it_searches_from_city_hall_with_no_distance(
    client: TestClient,
) -> None:
    body = search(client, query="마트").json()
    assert body["documents"] and all(doc["distance"] == "" for doc in body["documents"])
    assert body["documents"][0]["category_name"].endswith("대형마트")


def test_a_query_with_the_empty_marker_finds_nothing(client: TestClient) -> None:
    body = search(client, query=f"{EMPTY_MARKER} 약국", **YEOKSAM).json()
    assert body["documents"] == [] and body["meta"]["total_count"] == 0
    assert body["meta"]["is_end"] is True


@settings(max_examples=60, deadline=None)
@given(
    query=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1).filter(
        str.strip
    ),
    lat=st.floats(33.0, 38.6),
    lon=st.floats(124.6, 130.9),
    radius=st.integers(1, 20_000),
)
def test_every_place_is_within_the_radius(query: str, lat: float, lon: float, radius: int) -> None:
    params = {"query": query, "x": str(lon), "y": str(lat), "radius": str(radius), "size": "15"}
    body = keyword_answer(params)
    for doc in body["documents"]:
        assert haversine_m(lat, lon, float(doc["y"]), float(doc["x"])) <= radius + 1


def test_faults_at_the_configured_rates(client: TestClient) -> None:
    config = {"latency": {"kind": "fixed", "seconds": 0}, "error_rate": 1.0, "seed": 3}
    assert client.put("/_mock/config", json=config).status_code == 200
    statuses = {search(client, query="약국").status_code for _ in range(20)}
    assert statuses == {500, 503}
    assert search(client, query="약국").json()["errorType"] in (
        "InternalServerError",
        "ServiceUnavailable",
    )
    config |= {"error_rate": 0.0, "rate_limit_rate": 1.0}
    client.put("/_mock/config", json=config)
    limited = search(client, query="약국")
    assert limited.status_code == 429 and limited.json()["errorType"] == "RateLimitExceeded"
    outcomes = client.get("/_mock/stats").json()["outcomes"]
    assert outcomes["server_error"] + outcomes["unavailable"] == 21
    assert outcomes["rate_limited"] == 1 and outcomes["ok"] == 0
    assert client.post("/_mock/reset").json()["calls"] == 0


def test_the_default_latency_is_the_seeds_half_second() -> None:
    config = MockKakaoConfig()
    rng = random.Random(1)
    draws = sorted(config.latency.sample(rng) for _ in range(2000))
    assert 0.45 < draws[1000] < 0.55 and draws[0] > 0.1 and draws[-1] < 2.0


def test_a_config_that_does_not_add_up_is_refused(client: TestClient) -> None:
    answer = client.put("/_mock/config", json={"error_rate": 0.7, "timeout_rate": 0.7})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_config"
    assert client.get("/_mock/config").json()["error_rate"] == 0.0


@pytest.mark.slow
def test_the_command_line_server_with_latency_and_held_requests() -> None:
    with start_fake_kakao("--latency", "fixed:0.3", "--rest-key", "k1", "--seed", "5") as fake:
        config = httpx.get(f"{fake.base}/_mock/config").json()
        assert config["latency"] == {"kind": "fixed", "seconds": 0.3}
        assert (config["rest_key"], config["seed"]) == ("k1", 5)
        url = f"{fake.base}{KEYWORD_PATH}"
        started = time.monotonic()
        answer = httpx.get(url, params={"query": "약국"}, headers={"Authorization": "KakaoAK k1"})
        assert answer.status_code == 200 and time.monotonic() - started >= 0.3
        assert fake.stats()["latency_seconds"]["mean"] == 0.3
        # Held past the client's timeout, and reconfigured at run time.
        fake.configure(timeout_rate=1.0, hang_seconds=5.0)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(
                url, params={"query": "약국"}, headers={"Authorization": "KakaoAK k1"}, timeout=0.5
            )
        stats = fake.stats()
        assert stats["outcomes"]["timeout"] == 1 and stats["max_in_flight"] >= 1
