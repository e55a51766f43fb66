"""Fixtures of the locations tests: the seeded sandbox database, the service with a token, the
fake Kakao server in a child process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from harness.stack.sandbox import Sandbox, ServerUrls
from reference import migrations
from reference.common.db import get_engine
from reference.common.security import issue
from reference.common.settings import Settings, get_settings
from reference.locations import seed
from reference.locations.main import app

SEED = 20251031


@pytest.fixture(scope="session")
def seeded(sandbox: Sandbox) -> list[seed.SeedPoint]:
    """The sandbox database with the default generated points (what the nearby tests read)."""
    points = seed.generate(seed.DEFAULT_COUNT, SEED)
    seed.load(sandbox.database_url, points, seed=SEED)
    return points


@pytest.fixture
def fresh_database(servers: ServerUrls) -> Iterator[str]:
    """A migrated database of its own, for tests that change what the table holds."""
    name = f"wc_loc_{uuid.uuid4().hex[:10]}"
    admin = servers.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{servers.database_url.rsplit('/', 1)[0]}/{name}"
    try:
        migrations.upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api_settings(sandbox: Sandbox) -> Settings:
    return sandbox.settings(map_search_wait_seconds=10.0)


@pytest.fixture(scope="module")
def client(api_settings: Settings) -> Iterator[TestClient]:
    """The locations-service on its own, as in Kubernetes, with a valid access token."""
    app.dependency_overrides[get_settings] = lambda: api_settings
    try:
        with TestClient(app) as test_client:
            token = issue(api_settings, uuid.uuid4(), "access").token
            test_client.headers["Authorization"] = f"Bearer {token}"
            yield test_client
    finally:
        app.dependency_overrides.clear()


@contextmanager
def overridden(settings: Settings, **fields: Any) -> Iterator[Settings]:
    """The service answers with ``fields`` changed for the duration of the block."""
    changed = settings.model_copy(update=fields)
    app.dependency_overrides[get_settings] = lambda: changed
    try:
        yield changed
    finally:
        app.dependency_overrides[get_settings] = lambda: settings
