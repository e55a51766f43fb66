"""locations-service routes: ``/api/v1/locations`` (collection points near the user, and
keyword search through Kakao Map). Every route needs a valid access token.

Out-of-range numbers answer 422 with a stable code naming the field (``invalid_coordinates``,
``invalid_radius``, ``invalid_limit``, ``invalid_category``, ``invalid_query``), not the
framework's generic ``invalid_request``: the bounds are checked here, and documented in the
OpenAPI schema as minimum/maximum.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from reference.common.db import session_scope
from reference.common.deps import SettingsDep
from reference.common.errors import error_responses
from reference.common.params import bounded, check_limit
from reference.common.security import get_current_user_id
from reference.locations import search as map_search
from reference.locations import service
from reference.locations.kakao import MAX_SIZE
from reference.locations.schemas import NearbyOut, PointOut, SearchOut
from reference.waste.categories import Category

PREFIX = "/api/v1/locations"
router = APIRouter(
    prefix=PREFIX,
    tags=["locations"],
    dependencies=[Depends(get_current_user_id)],
    responses=error_responses(401),
)


Lat = Annotated[float, bounded("Latitude, WGS84 degrees.", -90, 90)]
Lon = Annotated[float, bounded("Longitude, WGS84 degrees.", -180, 180)]
RADIUS_DOC = f"Metres, {service.RADIUS_MIN_M} to {service.RADIUS_MAX_M}."


@router.get(
    "/nearby",
    response_model=NearbyOut,
    responses=error_responses(422),
    summary="Collection points within a radius, nearest first, with their distance",
)
def nearby(
    settings: SettingsDep,
    lat: Lat,
    lon: Lon,
    radius: Annotated[int, bounded(RADIUS_DOC, service.RADIUS_MIN_M, service.RADIUS_MAX_M)] = 1000,
    category: Annotated[
        list[str],
        Query(
            description="Only points accepting this category (repeat for several: points "
            f"accepting all of them). One of: {', '.join(c.value for c in Category)}.",
            json_schema_extra={"items": {"type": "string", "enum": [c.value for c in Category]}},
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults per request; a list is its idiom here
    limit: Annotated[int, bounded("At most this many points.", 1, service.NEARBY_LIMIT_MAX)] = 20,
) -> NearbyOut:
    service.check_position(lat, lon)
    service.check_radius(radius)
    check_limit(limit, service.NEARBY_LIMIT_MAX)
    categories = service.parse_categories(category)
    with session_scope(settings.database_url) as session:
        points = service.nearby(session, lat, lon, radius, categories, limit)
    return NearbyOut(
        lat=lat, lon=lon, radius=radius, categories=categories, count=len(points), points=points
    )


@router.get(
    "/points/{point_id}",
    response_model=PointOut,
    responses=error_responses(404, 422),
    summary="One collection point",
)
def point(
    point_id: Annotated[
        str,
        Path(
            description="The point's id, a positive integer.",
            json_schema_extra={"pattern": "^[1-9][0-9]{0,8}$"},
        ),
    ],
    settings: SettingsDep,
) -> PointOut:
    parsed = service.parse_point_id(point_id)
    with session_scope(settings.database_url) as session:
        return service.get_point(session, parsed)


@router.get(
    "/search",
    response_model=SearchOut,
    responses=error_responses(422, 502, 503, 504),
    summary="Places by keyword near a position, through Kakao Map (map.search on q.api)",
    description="Answers from the cache when the same search was made nearby recently; "
    "otherwise queues `map.search` and waits for it. 502 `map_unavailable` or "
    "`map_rejected` when Kakao fails or refuses, 504 `map_timeout` when no answer comes in "
    "time.",
)
def search(
    settings: SettingsDep,
    q: Annotated[
        str,
        Query(
            description="Keyword, e.g. 폐건전지 or 주민센터: 1 to 100 characters besides spaces.",
            json_schema_extra={"pattern": "\\S", "maxLength": 100},
        ),
    ],
    lat: Lat,
    lon: Lon,
    radius: Annotated[int, bounded(RADIUS_DOC, service.RADIUS_MIN_M, service.RADIUS_MAX_M)] = 5000,
    limit: Annotated[int, bounded("At most this many places.", 1, MAX_SIZE)] = MAX_SIZE,
) -> SearchOut:
    service.check_position(lat, lon)
    service.check_radius(radius)
    check_limit(limit, MAX_SIZE)
    return map_search.search(settings, q, lat, lon, radius, limit)
