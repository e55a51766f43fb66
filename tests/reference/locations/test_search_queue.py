"""GET /search from the API side: what it queues on q.api, the cache, bad input (no worker)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from kombu import Connection

from harness.stack.waits import wait_for
from reference.common import topology
from reference.common.cache import get_redis
from reference.common.settings import Settings
from reference.locations import search
from reference.locations.geo import haversine_m
from reference.locations.schemas import MapAnswer, Place
from tests.reference.locations.conftest import overridden

pytestmark = pytest.mark.integration

SEARCH = "/api/v1/locations/search"


def api_depth(broker: Connection) -> int:
    return {name: n for name, n, _ in topology.iter_depths(broker)}[topology.API.name]


def test_a_search_is_queued_on_q_api_and_expires_with_its_wait(
    client: TestClient, api_settings: Settings, broker: Connection
) -> None:
    with overridden(api_settings, map_search_wait_seconds=0.3):
        answer = client.get(
            SEARCH, params={"q": "  폐건전지   수거함 ", "lat": 37.51234, "lon": 127.04567}
        )
    assert answer.status_code == 504
    assert answer.json()["code"] == "map_timeout" and "0.3 s" in answer.json()["message"]
    # No worker took it within the wait: the broker expires it (nobody waits for the answer
    # any more) and dead-letters it, so no worker calls Kakao for nothing later.
    dlq = topology.kombu_queue(topology.DLQ)(broker.default_channel)
    message = wait_for(lambda: dlq.get(no_ack=True), timeout=10, describe="expired search in q.dlq")
    (death,) = message.headers["x-death"]
    assert (death["queue"], death["reason"], death["routing-keys"]) == (
        "q.api",
        "expired",
        ["api.search"],
    )
    assert message.headers["task"] == "map.search"
    assert message.properties["priority"] == search.API_PRIORITY == 5
    assert message.headers["ignore_result"] is False
    _, kwargs, _ = message.decode()
    # The query normalised, the position rounded to the cache's grid (about 100 m).
    assert kwargs == {"query": "폐건전지 수거함", "lat": 37.512, "lon": 127.046, "radius": 5000}
    assert api_depth(broker) == 0


def test_a_cached_answer_is_served_without_queueing(
    client: TestClient, api_settings: Settings, broker: Connection
) -> None:
    query = f"약국 {uuid.uuid4().hex[:6]}"
    far, near = (
        Place(
            id=str(i),
            name=f"{query} {i}",
            address="서울 강남구 역삼동 1",
            road_address=None,
            category="의료,건강 > 약국",
            phone=None,
            url=None,
            lat=lat,
            lon=127.0473,
        )
        for i, lat in ((1, 37.5272), (2, 37.5182))
    )
    key = search.cache_key(api_settings, query, 37.517, 127.047, 2000)
    cached = MapAnswer(places=[far, near], total_count=2, is_end=True)
    get_redis(api_settings.redis_url).set(key, cached.model_dump_json(), ex=60)

    # Another caller within the same ~100 m cell gets the same answer, measured from it.
    params = {"q": query.upper(), "lat": 37.5172, "lon": 127.0473, "radius": 2000, "limit": 1}
    answer = client.get(SEARCH, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cached"] is True and body["total_count"] == 2
    (place,) = body["places"]  # the nearer one first, and the limit applied
    assert place["id"] == "2"
    assert place["distance_m"] == pytest.approx(
        haversine_m(37.5172, 127.0473, 37.5182, 127.0473), abs=0.1
    )
    assert api_depth(broker) == 0
    metrics = client.get("/metrics").text
    assert 'wastecoach_cache_lookups_total{match="exact",mode="map.search",result="hit"}' in metrics


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"q": "   ", "lat": 37.5, "lon": 127.0}, "invalid_query", "q"),
        ({"q": "가" * 101, "lat": 37.5, "lon": 127.0}, "invalid_query", "q"),
        ({"q": "약국", "lat": 91, "lon": 127.0}, "invalid_coordinates", "lat"),
        ({"q": "약국", "lat": 37.5, "lon": 127.0, "radius": 30_000}, "invalid_radius", "radius"),
        ({"q": "약국", "lat": 37.5, "lon": 127.0, "limit": 16}, "invalid_limit", "limit"),
    ],
)
def test_bad_search_input_is_refused_before_queueing(
    client: TestClient, broker: Connection, params: dict, code: str, field: str
) -> None:
    answer = client.get(SEARCH, params=params)
    assert answer.status_code == 422
    assert answer.json()["code"] == code and answer.json()["details"]["field"] == field
    assert api_depth(broker) == 0


@pytest.mark.slow
def test_a_broker_that_does_not_answer_is_a_503(client: TestClient, api_settings: Settings) -> None:
    with overridden(api_settings, broker_url="amqp://guest:guest@127.0.0.1:1//"):
        answer = client.get(
            SEARCH, params={"q": f"약국 {uuid.uuid4().hex[:6]}", "lat": 37.5, "lon": 127}
        )
    assert answer.status_code == 503
    assert answer.json()["code"] == "broker_unavailable"
    assert "guest" not in answer.json()["message"]  # no credentials in the answer
