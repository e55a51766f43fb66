"""The generated collection points: deterministic, realistic, loaded idempotently."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.locations import seed
from reference.locations.models import ACCEPTS, CollectionPoint, PointKind
from reference.waste.categories import Category

# South Korea's mainland and Jeju, generously.
KOREA_LAT, KOREA_LON = (33.0, 38.7), (124.5, 131.0)


def test_the_same_seed_gives_the_same_points() -> None:
    assert seed.generate(500, 7) == seed.generate(500, 7)
    assert seed.generate(500, 7) != seed.generate(500, 8)
    # A smaller count is a prefix: shrinking a load removes points, it does not reshuffle.
    assert seed.generate(300, 7) == seed.generate(500, 7)[:300]


def test_points_look_like_korean_collection_points() -> None:
    points = seed.generate()
    assert len(points) == seed.DEFAULT_COUNT
    assert len({p.source_key for p in points}) == len(points)
    kinds = Counter(p.kind for p in points)
    assert set(kinds) == set(PointKind)
    # One community centre per neighbourhood, named after it, at its centre.
    hoods = seed.neighbourhoods()
    assert kinds[PointKind.COMMUNITY_CENTRE] == len(hoods)
    centres = {p.name: p for p in points if p.kind is PointKind.COMMUNITY_CENTRE}
    assert "역삼1동 주민센터" in centres
    assert "역삼1동 주민센터 폐건전지 수거함" in {p.name for p in points}
    seoul = sum(p.address.startswith("서울특별시 ") for p in points)
    assert 0.4 < seoul / len(points) < 0.8
    for point in points:
        assert KOREA_LAT[0] < point.lat < KOREA_LAT[1] and KOREA_LON[0] < point.lon < KOREA_LON[1]
        assert point.categories == tuple(c.value for c in ACCEPTS[point.kind])
        assert all(Category(c) for c in point.categories)
        assert point.address.split()[-1].isdigit() and point.opening_hours
        assert (point.phone is not None) == (
            point.kind in (PointKind.PHARMACY, PointKind.COMMUNITY_CENTRE)
        )


def test_pharmacies_take_medicine_and_bins_take_batteries() -> None:
    points = seed.generate(1000, 3)
    pharmacy = next(p for p in points if p.kind is PointKind.PHARMACY)
    assert pharmacy.name.endswith("약국 폐의약품 수거함")
    assert pharmacy.categories == (Category.HAZARDOUS.value,)
    assert any(
        Category.BATTERY.value in p.categories
        for p in points
        if p.kind is PointKind.BATTERY_LAMP_BIN
    )


def count(url: str, *where: object) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(CollectionPoint).where(*where)) or 0


@pytest.mark.integration
def test_loading_is_idempotent(fresh_database: str) -> None:
    assert seed.seed_database(fresh_database, 400, 5) == 400
    with session_scope(fresh_database) as session:
        first = {
            p.source_key: (p.id, p.name, p.lat) for p in session.scalars(select(CollectionPoint))
        }
    assert seed.seed_database(fresh_database, 400, 5) == 400
    with session_scope(fresh_database) as session:
        again = {
            p.source_key: (p.id, p.name, p.lat) for p in session.scalars(select(CollectionPoint))
        }
    assert again == first  # updated in place: same ids, same data
    # Another seed's points live beside them; a smaller count of a seed drops its extras only.
    assert seed.seed_database(fresh_database, 100, 6) == 500
    assert seed.seed_database(fresh_database, 250, 5) == 350
    assert count(fresh_database, CollectionPoint.source_key.like("seed:6:%")) == 100


@pytest.mark.integration
def test_the_command_loads_into_the_configured_database(fresh_database: str) -> None:
    env = {**os.environ, **Settings(database_url=fresh_database).to_env()}
    done = subprocess.run(
        [sys.executable, "-m", "reference.locations.seed", "--count", "120", "--seed", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "loaded 120 collection points (seed 9); the table holds 120" in done.stdout
    assert count(fresh_database) == 120


@pytest.mark.integration
def test_the_command_explains_a_database_it_cannot_use() -> None:
    unreachable = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    done = subprocess.run(
        [sys.executable, "-m", "reference.locations.seed", "--count", "1"],
        env={**os.environ, **unreachable.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "could not load collection points" in done.stderr
    assert "python -m reference.migrations upgrade" in done.stderr
