"""A mobile app session through the gateway, against the real servers: log in, read the
profile, scan a photo, see it in the history, find collection points, log out and see the
token refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reference.common.settings import Settings, get_settings
from reference.gateway import app
from reference.locations.seed import seed_database
from reference.waste import analysis
from tests.factories import MockOpenAIServer, photo
from tests.reference.waste.conftest import put_photo

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(settings: Settings, mock_openai: MockOpenAIServer) -> Iterator[TestClient]:
    mock_openai.reset()
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_a_mobile_app_session(gateway: TestClient, settings: Settings) -> None:
    login = gateway.post(
        "/api/v1/auth/dev-login", json={"provider": "kakao", "subject": uuid.uuid4().hex}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    profile = gateway.get("/api/v1/users/me", headers=auth)
    assert profile.status_code == 200, profile.text

    job = gateway.post("/api/v1/waste/analyze", json={}, headers=auth).json()
    assert put_photo(job, photo("beer_bottle", seed=uuid.uuid4().int % 10_000)).status_code == 204
    queued = gateway.post(f"/api/v1/waste/upload-complete/{job['job_id']}", headers=auth)
    assert queued.status_code == 202
    analysis.run(settings, uuid.UUID(job["job_id"]))  # the AI worker's pipeline, in-process
    result = gateway.get(f"/api/v1/waste/result/{job['job_id']}", headers=auth).json()
    assert result["status"] == "done" and result["result"]["category"] == "glass"

    history = gateway.get("/api/v1/users/me/history", headers=auth)
    assert history.status_code == 200
    assert [item["job_id"] for item in history.json()["items"]] == [job["job_id"]]

    seed_database(settings.database_url)
    nearby = gateway.get(
        "/api/v1/locations/nearby",
        params={"lat": 37.5006, "lon": 127.0364, "radius": 5000},
        headers=auth,
    )
    assert nearby.status_code == 200, nearby.text
    points = nearby.json()["points"]
    distances = [p["distance_m"] for p in points]
    assert distances and distances == sorted(distances) and max(distances) <= 5000

    out = gateway.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=auth
    )
    assert out.status_code == 204
    refused = gateway.get("/api/v1/users/me", headers=auth)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    again = gateway.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
