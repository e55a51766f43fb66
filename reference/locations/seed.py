"""Realistic Korean collection points, generated deterministically (nothing is downloaded).

Each neighbourhood of :mod:`reference.locations.places` gets its 주민센터 at its centre, and the
rest of the points (재활용 정거장, 의류수거함, 폐건전지·폐형광등 수거함, 소형폐가전 수거함,
폐의약품 수거 약국) are scattered around neighbourhood centres. The same seed and count always
give the same points; loading them again updates them in place (idempotent).

``python -m reference.locations.seed [--count N] [--seed S]`` loads them into the configured
database (``WASTECOACH_DATABASE_URL``, migrated first with ``python -m reference.migrations``).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.schema import CreateTable

from reference.common.db import session_scope
from reference.locations import places
from reference.locations.models import ACCEPTS, CollectionPoint, PointKind

DEFAULT_COUNT = 3000
DEFAULT_SEED = 20251031  # the seed design document's date

# Shares of the points that are not 주민센터 (those come one per neighbourhood).
KIND_WEIGHTS: dict[PointKind, float] = {
    PointKind.RECYCLING_STATION: 0.30,
    PointKind.CLOTHING_BIN: 0.26,
    PointKind.BATTERY_LAMP_BIN: 0.17,
    PointKind.SMALL_APPLIANCE_BIN: 0.09,
    PointKind.PHARMACY: 0.18,
}
_STATION_HOURS = ("매일 18:00-24:00", "화·목·일 18:00-24:00", "월·수·금 18:00-24:00")
_PHARMACY_HOURS = (
    "평일 09:00-21:00, 토 09:00-18:00",
    "매일 09:00-22:00",
    "평일 08:30-19:30, 토 09:00-14:00",
)
_OFFICE_HOURS = "평일 09:00-18:00"
_METRES_PER_DEGREE = math.pi * 6_371_008.8 / 180


@dataclass(frozen=True)
class SeedPoint:
    source_key: str
    name: str
    kind: PointKind
    categories: tuple[str, ...]
    address: str
    opening_hours: str
    phone: str | None
    lat: float
    lon: float

    def row(self) -> dict[str, object]:
        return {
            "source_key": self.source_key,
            "name": self.name,
            "kind": self.kind.value,
            "categories": list(self.categories),
            "address": self.address,
            "opening_hours": self.opening_hours,
            "phone": self.phone,
            "lat": self.lat,
            "lon": self.lon,
        }


@dataclass(frozen=True)
class Neighbourhood:
    district: places.District
    dong: str
    lat: float
    lon: float


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / _METRES_PER_DEGREE,
        lon + east_m / (_METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def neighbourhoods() -> list[Neighbourhood]:
    """Every 동 with a centre near its district's; fixed, whatever the seed."""
    found = []
    for district in places.DISTRICTS:
        for dong in district.dongs:
            # A string seed is hashed with SHA-512: stable across runs and machines.
            rng = random.Random(f"{district.city} {district.name} {dong}")
            distance, bearing = 1800 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            lat, lon = _offset(
                district.lat,
                district.lon,
                distance * math.cos(bearing),
                distance * math.sin(bearing),
            )
            found.append(Neighbourhood(district, dong, round(lat, 6), round(lon, 6)))
    return found


def _phone(rng: random.Random, area_code: str) -> str:
    middle = rng.randint(200, 9999) if area_code == "02" else rng.randint(200, 999)
    return f"{area_code}-{middle}-{rng.randint(0, 9999):04d}"


def _address(rng: random.Random, district: places.District) -> str:
    return f"{district.city} {district.name} {rng.choice(district.roads)} {rng.randint(1, 420)}"


def _named(rng: random.Random, kind: PointKind, hood: Neighbourhood, n: int) -> tuple[str, str]:
    """A name and opening hours for a point of ``kind`` in ``hood``."""
    dong = hood.dong
    # "역삼1동" -> "역삼", as places are named after their neighbourhood.
    root = dong.rstrip("0123456789·가동").rstrip("본")
    root = root if len(root) >= 2 else dong
    if kind is PointKind.RECYCLING_STATION:
        return f"{dong} 재활용정거장 {n}호", rng.choice(_STATION_HOURS)
    if kind is PointKind.CLOTHING_BIN:
        return f"{dong} 의류수거함 {n}", "24시간"
    if kind is PointKind.BATTERY_LAMP_BIN:
        if n == 1:  # the first one of a neighbourhood stands at its community centre
            return f"{dong} 주민센터 폐건전지 수거함", _OFFICE_HOURS
        return f"{root} {rng.choice(places.APARTMENTS)} 폐건전지·폐형광등 수거함", "24시간"
    if kind is PointKind.SMALL_APPLIANCE_BIN:
        return f"{dong} 소형폐가전 수거함 {n}", "24시간"
    if kind is PointKind.PHARMACY:
        return f"{root}{rng.choice(places.PHARMACIES)}약국 폐의약품 수거함", rng.choice(
            _PHARMACY_HOURS
        )
    return f"{dong} 주민센터", _OFFICE_HOURS


def generate(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[SeedPoint]:
    """``count`` points, the same for the same arguments."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    hoods = neighbourhoods()
    weights = [h.district.weight / len(h.district.dongs) for h in hoods]
    kinds, kind_weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    numbers: dict[tuple[str, str, PointKind], int] = {}
    points: list[SeedPoint] = []
    for index in range(count):
        if index < len(hoods):  # every neighbourhood has its community centre, at its centre
            hood, kind = hoods[index], PointKind.COMMUNITY_CENTRE
            lat, lon = hood.lat, hood.lon
        else:
            hood = rng.choices(hoods, weights)[0]
            kind = rng.choices(kinds, kind_weights)[0]
            north = max(-1500.0, min(1500.0, rng.gauss(0, 450)))
            east = max(-1500.0, min(1500.0, rng.gauss(0, 450)))
            lat, lon = _offset(hood.lat, hood.lon, north, east)
        key = (hood.district.name, hood.dong, kind)
        numbers[key] = numbers.get(key, 0) + 1
        name, hours = _named(rng, kind, hood, numbers[key])
        if kind is PointKind.BATTERY_LAMP_BIN and numbers[key] == 1:
            lat, lon = _offset(hood.lat, hood.lon, 8.0, 5.0)  # by the centre's door
        # The community centre and the bin at its door share the centre's (fixed) address.
        at_office = None
        if kind is PointKind.COMMUNITY_CENTRE or name.endswith("주민센터 폐건전지 수거함"):
            at_office = _address(random.Random(f"{hood.district.name} {hood.dong}"), hood.district)
        has_phone = kind in (PointKind.PHARMACY, PointKind.COMMUNITY_CENTRE)
        phone = _phone(rng, hood.district.area_code) if has_phone else None
        points.append(
            SeedPoint(
                source_key=f"seed:{seed}:{index}",
                name=name,
                kind=kind,
                categories=tuple(c.value for c in ACCEPTS[kind]),
                address=_address(rng, hood.district) if at_office is None else at_office,
                opening_hours=hours,
                phone=phone,
                lat=round(lat, 6),
                lon=round(lon, 6),
            )
        )
    return points


def load(database_url: str, points: Sequence[SeedPoint], *, seed: int | None = None) -> int:
    """Insert or update ``points``; with ``seed``, drop that seed's points not among them.

    The points are copied into a temporary table (COPY: a tenth of a second for the seed's
    3000, where a multi-row INSERT took seconds) and upserted from it in one statement.
    Returns how many collection points the table holds afterwards.
    """
    fields = list(SeedPoint.__dataclass_fields__)
    staging = Table(
        "seed_points",
        MetaData(),
        *(Column(c.name, c.type) for c in CollectionPoint.__table__.c if c.name in fields),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    with session_scope(database_url) as session:
        session.execute(CreateTable(staging))
        cursor = session.connection().connection.cursor()  # the driver's (psycopg) cursor
        with cursor.copy(f"COPY {staging.name} ({', '.join(fields)}) FROM STDIN") as copy:
            for point in points:
                row = point.row()
                copy.write_row([row[name] for name in fields])
        statement = insert(CollectionPoint).from_select(fields, select(staging))
        excluded = statement.excluded
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[CollectionPoint.source_key],
                set_={name: excluded[name] for name in fields if name != "source_key"}
                | {"updated_at": func.now()},
            )
        )
        if seed is not None:
            session.execute(
                delete(CollectionPoint).where(
                    CollectionPoint.source_key.like(f"seed:{seed}:%"),
                    CollectionPoint.source_key.not_in(select(staging.c.source_key)),
                )
            )
        return session.scalar(select(func.count()).select_from(CollectionPoint)) or 0


def seed_database(database_url: str, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> int:
    """Load the generated points for ``(count, seed)``: what tests and local stacks call."""
    return load(database_url, generate(count, seed), seed=seed)


def main(argv: list[str] | None = None) -> None:
    from reference.common.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m reference.locations.seed",
        description="Load generated Korean collection points into the locations schema.",
    )
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must not be negative")
    url = get_settings().database_url
    try:
        total = seed_database(url, args.count, args.seed)
    except Exception as exc:
        raise SystemExit(
            f"error: could not load collection points into {url} ({type(exc).__name__}: {exc}); "
            "is the database up and migrated (python -m reference.migrations upgrade)?"
        ) from None
    print(f"loaded {args.count} collection points (seed {args.seed}); the table holds {total}")


if __name__ == "__main__":
    main()
