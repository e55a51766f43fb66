from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from reference.common import security
from reference.common.settings import Settings, get_settings
from reference.gateway import app


def bearer(settings: Settings, user_id: uuid.UUID | None = None) -> dict[str, str]:
    """An Authorization header with a fresh access token for ``user_id`` (a new user if None)."""
    token = security.issue(settings, user_id or uuid.uuid4(), "access").token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def auth_headers(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    """The waste routes require a logged-in caller; this one is ``user_id``."""
    return bearer(settings, user_id)


@pytest.fixture
def client(settings: Settings, auth_headers: dict[str, str]) -> Iterator[TestClient]:
    """The gateway as ``user_id``: every request carries that user's access token."""
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app, headers=auth_headers) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


def put_photo(job: dict, data: bytes, content_type: str | None = None) -> httpx.Response:
    """POST to the pre-signed upload over real HTTP, as the app does (``content_type``: send
    another Content-Type field than the policy's)."""
    fields = dict(job["upload"]["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    return httpx.post(job["upload"]["url"], data=fields, files={"file": ("photo", data)})
