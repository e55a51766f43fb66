"""The locations schema: collection points (수거함, 재활용 정거장, 약국, 주민센터)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Double, Identity, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from reference.common.db import Base
from reference.waste.categories import Category


class PointKind(StrEnum):
    RECYCLING_STATION = "recycling_station"
    CLOTHING_BIN = "clothing_bin"
    BATTERY_LAMP_BIN = "battery_lamp_bin"
    SMALL_APPLIANCE_BIN = "small_appliance_bin"
    PHARMACY = "pharmacy"
    COMMUNITY_CENTRE = "community_centre"


KIND_LABELS_KO: dict[PointKind, str] = {
    PointKind.RECYCLING_STATION: "재활용 정거장",
    PointKind.CLOTHING_BIN: "의류수거함",
    PointKind.BATTERY_LAMP_BIN: "폐건전지·폐형광등 수거함",
    PointKind.SMALL_APPLIANCE_BIN: "소형폐가전 수거함",
    PointKind.PHARMACY: "폐의약품 수거 약국",
    PointKind.COMMUNITY_CENTRE: "주민센터",
}

# What each kind of point takes (a point lists its own; the seed starts from these).
ACCEPTS: dict[PointKind, tuple[Category, ...]] = {
    PointKind.RECYCLING_STATION: (
        Category.PAPER,
        Category.PAPER_PACK,
        Category.CLEAR_PET,
        Category.PLASTIC,
        Category.VINYL,
        Category.STYROFOAM,
        Category.GLASS,
        Category.METAL,
    ),
    PointKind.CLOTHING_BIN: (Category.TEXTILE,),
    PointKind.BATTERY_LAMP_BIN: (Category.BATTERY, Category.LIGHTING),
    PointKind.SMALL_APPLIANCE_BIN: (Category.ELECTRONICS, Category.BATTERY),
    # Expired and leftover medicine counts as household hazardous waste.
    PointKind.PHARMACY: (Category.HAZARDOUS,),
    # 주민센터 take batteries and lamps, swap paper packs for bags, and register bulky waste.
    PointKind.COMMUNITY_CENTRE: (
        Category.BATTERY,
        Category.LIGHTING,
        Category.PAPER_PACK,
        Category.HAZARDOUS,
        Category.BULKY,
    ),
}


class CollectionPoint(Base):
    """One place that accepts some categories of waste, at a WGS84 position."""

    __tablename__ = "collection_points"
    __table_args__ = (
        Index("ix_collection_points_categories", "categories", postgresql_using="gin"),
        Index("ix_collection_points_kind", "kind"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="position"),
        {"schema": "locations"},
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    # Where the row came from ("seed:<seed>:<n>"), so loading the same data again updates it.
    source_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    address: Mapped[str] = mapped_column(String(300))
    opening_hours: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# A GiST index on the built-in point type answers "inside this box" without PostGIS or any
# extension; the exact distance (haversine) is then computed on the few rows it yields.
Index(
    "ix_collection_points_position",
    func.point(CollectionPoint.lon, CollectionPoint.lat),
    postgresql_using="gist",
)
