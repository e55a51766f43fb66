from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from reference.common.settings import Settings, get_settings
from reference.gateway import app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


def put_photo(job: dict, data: bytes, content_type: str | None = None) -> httpx.Response:
    """PUT to the pre-signed URL over real HTTP, as the app does."""
    headers = dict(job["upload"]["headers"])
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.put(job["upload"]["url"], content=data, headers=headers)
