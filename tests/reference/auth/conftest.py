"""Fixtures of the auth tests: a sandbox of the package's own (so its api worker can consume
q.api while other tests reset theirs), the fake OAuth providers and the api worker in child
processes, and auth-service in process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from kombu import Connection

from harness.stack.processes import ManagedProcess
from harness.stack.sandbox import Sandbox, ServerUrls
from harness.stack.waits import wait_for
from reference import migrations
from reference.auth.api import get_verifier
from reference.auth.main import app
from reference.common import topology
from reference.common.settings import Settings, get_settings
from tests.factories import LOG_DIR, FakeProviders, start_fake_oauth


@pytest.fixture(scope="package")
def oauth_fake() -> Iterator[FakeProviders]:
    with start_fake_oauth() as fake:
        yield fake


@pytest.fixture(scope="package")
def auth_box(servers: ServerUrls) -> Iterator[Sandbox]:
    with Sandbox(servers) as box:
        migrations.upgrade(box.database_url)
        with Connection(box.broker_url) as conn:
            topology.declare(conn)
        yield box


@pytest.fixture(scope="package")
def auth_settings(auth_box: Sandbox, oauth_fake: FakeProviders) -> Settings:
    return auth_box.settings(
        oauth_kakao_base_url=oauth_fake.url("kakao"),
        oauth_naver_base_url=oauth_fake.url("naver"),
        oauth_google_base_url=oauth_fake.url("google"),
        oauth_redirect_base_url="http://127.0.0.1:9",  # never called: the test follows it
        oauth_http_timeout_seconds=1.0,
        oauth_backoff_initial_seconds=0.01,
        oauth_verify_timeout_seconds=10.0,
        # Every test logs in from the one test client address; the limit has its own tests.
        limit_logins_per_minute=100_000,
    )


@pytest.fixture(scope="package")
def api_worker(auth_settings: Settings) -> Iterator[ManagedProcess]:
    """``python -m reference.workers run api``, consuming the package's q.api."""
    process = ManagedProcess.python_module(
        f"worker-api-{uuid.uuid4().hex[:6]}",
        "reference.workers",
        ["run", "api"],
        auth_settings.to_env(),
        LOG_DIR,
    ).start()

    def consuming() -> bool:
        with Connection(auth_settings.broker_url, connect_timeout=3) as conn:
            return {q: c for q, _, c in topology.iter_depths(conn)}["q.api"] > 0

    try:
        wait_for(
            consuming,
            timeout=60,
            interval=0.2,
            describe="the api worker consuming q.api",
            abort=process.death,
        )
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(auth_settings: Settings, oauth_fake: FakeProviders) -> Iterator[TestClient]:
    """auth-service in process on the package's sandbox; the fakes reset, without latency."""
    oauth_fake.reset()
    app.dependency_overrides[get_settings] = lambda: auth_settings
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.pop(get_settings, None)
        app.dependency_overrides.pop(get_verifier, None)


def follow_provider(
    client: TestClient, provider: str, login_hint: str | None = None, **extra: str
) -> dict[str, str]:
    """Start a login and let the fake provider redirect back: the callback's query."""
    start = client.get(f"/api/v1/auth/login/{provider}")
    assert start.status_code == 200, start.text
    params = ({"login_hint": login_hint} if login_hint else {}) | extra
    url = start.json()["authorization_url"]
    redirect = httpx.get(f"{url}&{urlencode(params)}" if params else url, follow_redirects=False)
    assert redirect.status_code == 302, redirect.text
    location = httpx.URL(redirect.headers["location"])
    assert str(location).startswith(start.json()["redirect_uri"] + "?")
    return dict(location.params)
