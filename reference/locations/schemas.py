"""Response bodies of the locations API, and the normalised answer of ``map.search``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from reference.locations.models import PointKind
from reference.waste.categories import Category


class PointOut(BaseModel):
    """A collection point; ``distance_m`` is set when it was found near a position."""

    id: int
    name: str
    kind: PointKind
    kind_label: str
    categories: list[Category] = Field(description="What the point accepts.")
    address: str
    opening_hours: str
    phone: str | None
    lat: float
    lon: float
    distance_m: float | None = Field(None, description="From the asked position, in metres.")


class NearbyOut(BaseModel):
    lat: float
    lon: float
    radius: int
    categories: list[Category] = Field(description="The filter: points accept all of these.")
    count: int
    points: list[PointOut] = Field(description="Nearest first.")


class Place(BaseModel):
    """A place from the map provider (Kakao Local), as ``map.search`` returns it."""

    id: str
    name: str
    address: str
    road_address: str | None
    category: str
    phone: str | None
    url: str | None
    lat: float
    lon: float


class MapAnswer(BaseModel):
    """What ``map.search`` returns through the result backend (and what the cache keeps)."""

    places: list[Place]
    total_count: int
    is_end: bool


class PlaceOut(Place):
    distance_m: float = Field(description="From the asked position, in metres.")


class SearchOut(BaseModel):
    query: str
    lat: float
    lon: float
    radius: int
    cached: bool = Field(description="true when answered from the cache, without the map API")
    total_count: int = Field(description="Matches the map provider knows of.")
    places: list[PlaceOut] = Field(description="Nearest first.")
