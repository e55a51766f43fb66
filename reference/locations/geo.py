"""Distances on the sphere and the boxes that bound a search circle.

The nearby query prefilters with a latitude/longitude box (answered by a GiST index), then keeps
the rows whose haversine distance is within the radius. Python and SQL compute the distance
with the same formula, so the tests can check the query against a brute force in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, func, literal

# Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8
# The box is widened by this share so rounding never drops a point that lies on the circle.
_MARGIN = 1e-9


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 positions (degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin(math.radians(lat2 - lat1) * 0.5) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) * 0.5) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_sql(
    lat_col: ColumnElement[Any], lon_col: ColumnElement[Any], lat: float, lon: float
) -> ColumnElement[float]:
    """The same distance as :func:`haversine_m`, as a SQL expression over two columns."""
    # To ~1 cm: PostgreSQL raises on a subnormal (radians(5e-324) underflows) where Python
    # would round to 0, and no position is finer than that anyway.
    lat, lon = round(lat, 7), round(lon, 7)
    lat_p, lon_p, half, one = (literal(v, Float) for v in (lat, lon, 0.5, 1.0))
    a = func.power(func.sin(func.radians(lat_col - lat_p) * half), 2) + func.cos(
        func.radians(lat_p)
    ) * func.cos(func.radians(lat_col)) * func.power(
        func.sin(func.radians(lon_col - lon_p) * half), 2
    )
    return literal(2 * EARTH_RADIUS_M, Float) * func.asin(func.least(one, func.sqrt(a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle (degrees), never crossing the antimeridian."""

    lat_min: float
    lon_min: float
    lat_max: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


def bounding_boxes(lat: float, lon: float, radius_m: float) -> list[Box]:
    """Boxes that together contain every position within ``radius_m`` of (lat, lon).

    The longitude half-width is the exact one of a spherical cap (asin(sin d / cos lat), after
    Matuschek); a cap that reaches a pole spans every longitude; a box that crosses the
    antimeridian is split in two.
    """
    angular = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angular) * (1 + _MARGIN)
    lat_min, lat_max = lat - dlat, lat + dlat
    if lat_min <= -90 or lat_max >= 90 or math.cos(math.radians(lat)) <= math.sin(angular):
        return [Box(max(lat_min, -90.0), -180.0, min(lat_max, 90.0), 180.0)]
    dlon = math.degrees(math.asin(math.sin(angular) / math.cos(math.radians(lat)))) * (1 + _MARGIN)
    lon_min, lon_max = lon - dlon, lon + dlon
    if lon_min < -180:
        return [Box(lat_min, lon_min + 360, lat_max, 180.0), Box(lat_min, -180.0, lat_max, lon_max)]
    if lon_max > 180:
        return [Box(lat_min, lon_min, lat_max, 180.0), Box(lat_min, -180.0, lat_max, lon_max - 360)]
    return [Box(lat_min, lon_min, lat_max, lon_max)]


def in_box_sql(
    lat_col: ColumnElement[Any], lon_col: ColumnElement[Any], box: Box
) -> ColumnElement[bool]:
    """``point(lon, lat) <@ box(...)``: the form the GiST index on point(lon, lat) answers."""
    corner_a = func.point(literal(box.lon_min, Float), literal(box.lat_min, Float))
    corner_b = func.point(literal(box.lon_max, Float), literal(box.lat_max, Float))
    return func.point(lon_col, lat_col).op("<@")(func.box(corner_a, corner_b))
