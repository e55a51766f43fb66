"""The locations-service's logic: checking the position and filters, the nearby query."""

from __future__ import annotations

import math

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from reference.common.errors import ApiError
from reference.locations import geo
from reference.locations.models import KIND_LABELS_KO, CollectionPoint, PointKind
from reference.locations.schemas import PointOut
from reference.waste.categories import Category

RADIUS_MIN_M, RADIUS_MAX_M = 1, 20_000  # Kakao's own limit for a radius search is 20 km
NEARBY_LIMIT_MAX = 100


def _out_of_range(code: str, field: str, value: float, low: float, high: float) -> ApiError:
    return ApiError(
        422,
        code,
        f"{field} must be a number from {low:g} to {high:g}, got {value!r}",
        field=field,
        min=low,
        max=high,
        # NaN and infinity are not JSON: the value is echoed as text.
        value=str(value),
    )


def check_position(lat: float, lon: float) -> None:
    """422 ``invalid_coordinates`` naming the field when lat or lon is off the globe."""
    for field, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not (math.isfinite(value) and -bound <= value <= bound):
            raise _out_of_range("invalid_coordinates", field, value, -bound, bound)


def check_radius(radius: int) -> None:
    if not RADIUS_MIN_M <= radius <= RADIUS_MAX_M:
        raise _out_of_range("invalid_radius", "radius", radius, RADIUS_MIN_M, RADIUS_MAX_M)


def parse_categories(raw: list[str]) -> list[Category]:
    """The ``category`` filters, each a :class:`Category` value (422 ``invalid_category``)."""
    known = {c.value for c in Category}
    unknown = [value for value in raw if value not in known]
    if unknown:
        raise ApiError(
            422,
            "invalid_category",
            f"unknown category {unknown[0][:40]!r}",
            field="category",
            allowed=sorted(known),
        )
    return list(dict.fromkeys(Category(value) for value in raw))


def parse_point_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or int(raw) > 2**31 - 1:
        raise ApiError(422, "invalid_point_id", f"point id {raw[:40]!r} is not a positive integer")
    return int(raw)


def point_out(point: CollectionPoint, distance_m: float | None = None) -> PointOut:
    kind = PointKind(point.kind)
    return PointOut(
        id=point.id,
        name=point.name,
        kind=kind,
        kind_label=KIND_LABELS_KO[kind],
        categories=[Category(c) for c in point.categories],
        address=point.address,
        opening_hours=point.opening_hours,
        phone=point.phone,
        lat=point.lat,
        lon=point.lon,
        distance_m=None if distance_m is None else round(distance_m, 1),
    )


def nearby(
    session: Session,
    lat: float,
    lon: float,
    radius_m: int,
    categories: list[Category],
    limit: int,
) -> list[PointOut]:
    """Points within ``radius_m`` of (lat, lon) accepting every category given, nearest first."""
    distance = geo.haversine_sql(CollectionPoint.lat, CollectionPoint.lon, lat, lon).label(
        "distance_m"
    )
    boxes = [
        geo.in_box_sql(CollectionPoint.lat, CollectionPoint.lon, box)
        for box in geo.bounding_boxes(lat, lon, radius_m)
    ]
    conditions = [or_(*boxes)]
    if categories:
        conditions.append(CollectionPoint.categories.contains([c.value for c in categories]))
    query = (
        select(CollectionPoint, distance)
        .where(*conditions, distance <= radius_m)
        .order_by(distance, CollectionPoint.id)
        .limit(limit)
    )
    return [point_out(point, dist) for point, dist in session.execute(query)]


def get_point(session: Session, point_id: int) -> PointOut:
    point = session.get(CollectionPoint, point_id)
    if point is None:
        raise ApiError(404, "point_not_found", f"no collection point {point_id}")
    return point_out(point)
