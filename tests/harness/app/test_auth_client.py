"""harness.app.auth_client against auth-service in process (real PostgreSQL and Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.app.auth_client import LoginError, dev_login
from reference.auth.main import app
from reference.common import security
from reference.common.settings import Settings, get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_dev_login_gives_an_access_token(http: TestClient, settings: Settings) -> None:
    token = dev_login("http://testserver", http=http)
    again = dev_login("http://testserver", http=http)
    users = {security.verify(settings, t, "access").user_id for t in (token, again)}
    assert len(users) == 2  # a new user each time without a subject
    same = {dev_login("http://testserver", subject="bench-1", http=http) for _ in range(2)}
    assert len({security.verify(settings, t, "access").user_id for t in same}) == 1


def test_dev_login_explains_why_it_cannot(http: TestClient, settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production"})
    app.dependency_overrides[get_settings] = lambda: production
    with pytest.raises(LoginError, match="not available"):
        dev_login("http://testserver", http=http)
    with httpx.Client(timeout=1) as nowhere, pytest.raises(LoginError, match="ConnectError"):
        dev_login("http://127.0.0.1:9", http=nowhere)
