"""GET /nearby and /points/{id} against the seeded PostgreSQL table, checked by brute force."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from harness.stack.sandbox import Sandbox
from reference.common.db import session_scope
from reference.common.security import issue
from reference.common.settings import Settings
from reference.locations import seed
from reference.locations.geo import haversine_m
from reference.locations.models import CollectionPoint, PointKind
from reference.waste.categories import Category

pytestmark = pytest.mark.integration

NEARBY = "/api/v1/locations/nearby"
# Rows closer than this to the radius may fall either way (SQL and Python round differently).
EDGE_M = 1e-6


@dataclass(frozen=True)
class Row:
    id: int
    lat: float
    lon: float
    categories: frozenset[str]


@pytest.fixture(scope="module")
def rows(sandbox: Sandbox, seeded: list[seed.SeedPoint]) -> list[Row]:
    """Every row of the table: the truth the query is checked against."""
    with session_scope(sandbox.database_url) as session:
        points = session.scalars(select(CollectionPoint)).all()
        return [Row(p.id, p.lat, p.lon, frozenset(p.categories)) for p in points]


def brute_force(
    rows: list[Row], lat: float, lon: float, radius: float, categories: set[str]
) -> list[tuple[float, int]]:
    found = []
    for row in rows:
        if categories <= row.categories:
            distance = haversine_m(lat, lon, row.lat, row.lon)
            if distance <= radius:
                found.append((distance, row.id))
    return sorted(found)


def check_against_brute_force(
    answer: dict, rows: list[Row], lat: float, lon: float, radius: int, cats: set[str], limit: int
) -> None:
    expected = brute_force(rows, lat, lon, radius, cats)
    got = [(p["distance_m"], p["id"]) for p in answer["points"]]
    assert answer["count"] == len(got) <= limit
    assert [d for d, _ in got] == sorted(d for d, _ in got)  # nearest first
    exact = {i: d for d, i in expected}
    for distance, point_id in got:
        assert point_id in exact, f"point {point_id} is not within {radius} m"
        assert distance == pytest.approx(exact[point_id], abs=0.06)  # rounded to 0.1 m
    wanted = {i for d, i in expected[:limit] if radius - d > EDGE_M}
    if len(expected) > limit:  # truncated: only points tied with the last one may differ
        cutoff = expected[limit - 1][0]
        wanted = {i for d, i in expected if d < cutoff - EDGE_M}
    missing = wanted - {i for _, i in got}
    assert not missing, f"points within {radius} m not returned: {sorted(missing)[:5]}"
    assert len(got) == min(limit, len(expected)) or any(
        abs(radius - d) <= EDGE_M for d, _ in expected
    )


centres = st.sampled_from([(d.lat, d.lon) for d in seed.neighbourhoods()])
near_a_city = st.builds(
    lambda c, dlat, dlon: (c[0] + dlat, c[1] + dlon),
    centres,
    st.floats(-0.05, 0.05),
    st.floats(-0.05, 0.05),
)
anywhere_in_korea = st.tuples(st.floats(33.0, 38.7), st.floats(124.5, 131.0))
category_filters = st.sets(st.sampled_from([c.value for c in Category]), max_size=2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.one_of(near_a_city, anywhere_in_korea),
    radius=st.one_of(st.integers(1, 3000), st.integers(1, 20_000)),
    cats=st.one_of(st.just(set()), category_filters),
    limit=st.integers(1, 100),
)
def test_nearby_matches_a_brute_force_over_the_table(
    client: TestClient,
    rows: list[Row],
    position: tuple[float, float],
    radius: int,
    cats: set[str],
    limit: int,
) -> None:
    lat, lon = position
    params = {"lat": lat, "lon": lon, "radius": radius, "limit": limit, "category": sorted(cats)}
    answer = client.get(NEARBY, params=params)
    assert answer.status_code == 200, answer.text
    check_against_brute_force(answer.json(), rows, lat, lon, radius, cats, limit)


def test_around_yeoksam_with_a_battery(client: TestClient, rows: list[Row]) -> None:
    centre = next(h for h in seed.neighbourhoods() if h.dong == "역삼1동")
    answer = client.get(
        NEARBY, params={"lat": centre.lat, "lon": centre.lon, "radius": 800, "category": "battery"}
    ).json()
    assert answer["count"] > 0 and answer["categories"] == ["battery"]
    first = answer["points"][0]
    # The community centre stands exactly at the neighbourhood's centre and takes batteries.
    assert first["name"] == "역삼1동 주민센터" and first["distance_m"] == 0.0
    assert first["kind"] == PointKind.COMMUNITY_CENTRE and first["kind_label"] == "주민센터"
    assert first["phone"].startswith("02-") and first["address"].startswith("서울특별시 강남구 ")
    for point in answer["points"]:
        assert "battery" in point["categories"] and point["distance_m"] <= 800
    check_against_brute_force(answer, rows, centre.lat, centre.lon, 800, {"battery"}, 20)


def test_several_categories_means_all_of_them(client: TestClient) -> None:
    centre = seed.neighbourhoods()[0]
    params = {"lat": centre.lat, "lon": centre.lon, "radius": 20_000, "limit": 100}
    both = client.get(NEARBY, params=params | {"category": ["battery", "bulky"]}).json()
    assert both["count"] > 0
    assert all({"battery", "bulky"} <= set(p["categories"]) for p in both["points"])
    assert {p["kind"] for p in both["points"]} == {"community_centre"}


def test_nothing_in_the_sea(client: TestClient) -> None:
    answer = client.get(NEARBY, params={"lat": 34.0, "lon": 125.0, "radius": 20_000})
    assert answer.status_code == 200 and answer.json()["points"] == []


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"lat": 90.0001, "lon": 127}, "invalid_coordinates", "lat"),
        ({"lat": -91, "lon": 127}, "invalid_coordinates", "lat"),
        ({"lat": 37.5, "lon": 180.5}, "invalid_coordinates", "lon"),
        ({"lat": 37.5, "lon": -1000}, "invalid_coordinates", "lon"),
        ({"lat": "nan", "lon": 127}, "invalid_coordinates", "lat"),
        ({"lat": 37.5, "lon": "inf"}, "invalid_coordinates", "lon"),
        ({"lat": 37.5, "lon": 127, "radius": 0}, "invalid_radius", "radius"),
        ({"lat": 37.5, "lon": 127, "radius": 20_001}, "invalid_radius", "radius"),
        ({"lat": 37.5, "lon": 127, "radius": -5}, "invalid_radius", "radius"),
        ({"lat": 37.5, "lon": 127, "limit": 0}, "invalid_limit", "limit"),
        ({"lat": 37.5, "lon": 127, "limit": 101}, "invalid_limit", "limit"),
        ({"lat": 37.5, "lon": 127, "category": "batteries"}, "invalid_category", "category"),
        ({"lat": 37.5, "lon": 127, "category": ["battery", ""]}, "invalid_category", "category"),
    ],
)
def test_out_of_range_input_is_refused_naming_the_field(
    client: TestClient, params: dict, code: str, field: str
) -> None:
    answer = client.get(NEARBY, params=params)
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == code and body["details"]["field"] == field
    assert field in body["message"]


@pytest.mark.parametrize("value", [90, -90])
def test_the_bounds_themselves_are_accepted(client: TestClient, value: int) -> None:
    answer = client.get(NEARBY, params={"lat": value, "lon": 180, "radius": 20_000})
    assert answer.status_code == 200 and answer.json()["points"] == []


@pytest.mark.parametrize("tiny", [5e-324, -5e-324, 1e-310])
def test_subnormal_coordinates_are_a_position_not_an_error(client: TestClient, tiny: float) -> None:
    """schemathesis found lat=5e-324 answering 500: PostgreSQL's radians() underflows."""
    for params in ({"lat": tiny, "lon": 127.0}, {"lat": 37.5, "lon": tiny}):
        answer = client.get(NEARBY, params=params)
        assert answer.status_code == 200, answer.text


def test_missing_or_non_numeric_coordinates(client: TestClient) -> None:
    missing = client.get(NEARBY, params={"lon": 127})
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_request"
    assert missing.json()["details"]["errors"][0]["loc"] == ["query", "lat"]
    garbage = client.get(NEARBY, params={"lat": "north", "lon": 127})
    assert garbage.status_code == 422
    assert garbage.json()["details"]["errors"][0]["loc"] == ["query", "lat"]


def test_one_point_by_id(client: TestClient, rows: list[Row]) -> None:
    row = rows[len(rows) // 2]
    answer = client.get(f"/api/v1/locations/points/{row.id}")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["lat"], body["lon"]) == (row.id, row.lat, row.lon)
    assert set(body["categories"]) == row.categories and body["distance_m"] is None
    missing = client.get("/api/v1/locations/points/2000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "point_not_found"
    for bad in ("abc", "-1", "1.5", "99999999999"):
        answer = client.get(f"/api/v1/locations/points/{bad}")
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_point_id"


ROUTES = [
    f"{NEARBY}?lat=37.5&lon=127",
    "/api/v1/locations/points/1",
    "/api/v1/locations/search?q=약국&lat=37.5&lon=127",
]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_an_access_token(
    client: TestClient, api_settings: Settings, route: str
) -> None:
    missing = client.get(route, headers={"Authorization": ""})
    assert missing.status_code == 401 and missing.json()["code"] == "token_missing"
    forged = client.get(route, headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401 and forged.json()["code"] == "token_invalid"
    refresh = issue(api_settings, uuid.uuid4(), "refresh").token
    wrong = client.get(route, headers={"Authorization": f"Bearer {refresh}"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "token_wrong_type"


def test_readiness_and_documented_bounds(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"postgres", "redis", "rabbitmq"}
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in schema["paths"][NEARBY]["get"]["parameters"]}
    assert (params["lat"]["minimum"], params["lat"]["maximum"]) == (-90, 90)
    assert (params["radius"]["minimum"], params["radius"]["maximum"]) == (1, 20_000)
    responses = schema["paths"][NEARBY]["get"]["responses"]
    assert {"200", "401", "422"} <= set(responses)
