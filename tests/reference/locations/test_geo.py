"""Distances and the boxes that bound a search circle (no servers)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reference.locations import geo

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)
radii = st.floats(1, 20_000, allow_nan=False)


def destination(lat: float, lon: float, bearing: float, distance_m: float) -> tuple[float, float]:
    """The position ``distance_m`` from (lat, lon) along ``bearing`` (radians), on the sphere."""
    d = distance_m / geo.EARTH_RADIUS_M
    phi1, lam1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(bearing)
    )
    lam2 = lam1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(phi1),
        math.cos(d) - math.sin(phi1) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 540) % 360 - 180
    return math.degrees(phi2), lon2


def test_known_distances() -> None:
    # One degree of latitude on the mean sphere, and the same along the equator.
    assert geo.haversine_m(37.0, 127.0, 38.0, 127.0) == pytest.approx(111_195.08, abs=0.01)
    assert geo.haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(111_195.08, abs=0.01)
    # Seoul City Hall to Busan City Hall: about 325 km as the crow flies.
    assert geo.haversine_m(37.5663, 126.9779, 35.1798, 129.0750) == pytest.approx(325_000, rel=0.01)
    assert geo.haversine_m(37.5, 127.0, 37.5, 127.0) == 0.0


def test_a_box_that_crosses_the_antimeridian_is_split() -> None:
    boxes = geo.bounding_boxes(0.0, 179.99, 5000)
    assert len(boxes) == 2
    assert any(box.contains(0.0, -179.99) for box in boxes)
    assert any(box.contains(0.0, 179.99) for box in boxes)


def test_a_circle_around_a_pole_spans_every_longitude() -> None:
    (box,) = geo.bounding_boxes(89.99, 10.0, 5000)
    assert (box.lon_min, box.lon_max, box.lat_max) == (-180.0, 180.0, 90.0)


@given(latitudes, longitudes, radii, st.floats(0, 2 * math.pi), st.floats(0, 1))
def test_every_point_within_the_radius_is_in_a_box(
    lat: float, lon: float, radius: float, bearing: float, share: float
) -> None:
    point = destination(lat, lon, bearing, radius * share)
    assume(geo.haversine_m(lat, lon, *point) <= radius)  # not pushed out by rounding
    boxes = geo.bounding_boxes(lat, lon, radius)
    assert any(box.contains(*point) for box in boxes), (point, boxes)
    for box in boxes:
        assert -90 <= box.lat_min <= box.lat_max <= 90
        assert -180 <= box.lon_min <= box.lon_max <= 180


@given(st.floats(-80, 80), longitudes, radii)
def test_boxes_are_tight(lat: float, lon: float, radius: float) -> None:
    # Away from the poles, the box is no taller than the circle (plus rounding).
    boxes = geo.bounding_boxes(lat, lon, radius)
    height = max(b.lat_max for b in boxes) - min(b.lat_min for b in boxes)
    assert height <= 2 * math.degrees(radius / geo.EARTH_RADIUS_M) * (1 + 1e-6)
