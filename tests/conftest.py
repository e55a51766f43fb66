"""Fixtures shared by every test: an isolated sandbox on the real servers, settings pointing at
it, moto's S3 server and the mock OpenAI server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kombu import Connection

from harness.stack.sandbox import Sandbox, ServerUrls
from reference import migrations
from reference.common import bucket, topology
from reference.common.settings import Settings
from tests.factories import MockOpenAIServer, start_mock_openai, start_moto

# Settings fail closed without an environment; the tests run development settings (the
# development secret, dev-login) unless a test says otherwise.
os.environ.setdefault("WASTECOACH_ENVIRONMENT", "development")


# Whole-stack tests (marker e2e) run in two lanes of the xdist workers, so at most two of the
# suite's stacks run at once: with three at once on a shared 2-core machine (load 14-19) the
# unbroken breaker run failed its cache, priority and overhead gates, breakers went
# inconclusive for lack of samples, and the shared PostgreSQL ran out of connections.
# test_run.py's breaker runs take about as long as all the other whole-stack tests together.
WHOLE_STACK_LANES = {"tests/harness/run/test_run.py": "whole-stack-1"}
OTHER_LANE = "whole-stack-2"


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's ``--dist loadgroup`` (``nox -s tests -- -n 3 --dist
    loadgroup``): whole-stack tests in their lane (above); the other tests of a module that use
    one of its module-scoped fixtures (a shared sandbox or server) in one worker, so the fixture
    is set up once as in a serial run; every other test is handed out alone."""
    for item in items:
        module = item.nodeid.split("::")[0]
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group(WHOLE_STACK_LANES.get(module, OTHER_LANE)))
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        defs = (
            (d for chain in fixtures.name2fixturedefs.values() for d in chain) if fixtures else ()
        )
        if any(d.scope == "module" for d in defs):
            item.add_marker(pytest.mark.xdist_group(module))


@pytest.fixture(scope="session")
def servers() -> ServerUrls:
    return ServerUrls.from_environment()


@pytest.fixture(scope="session")
def sandbox(servers: ServerUrls) -> Iterator[Sandbox]:
    """One database (migrated), vhost (topology declared) and Redis prefix for the session."""
    with Sandbox(servers) as box:
        migrations.upgrade(box.database_url)
        with Connection(box.broker_url) as conn:
            topology.declare(conn)
        yield box


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with start_moto() as server:
        yield server.url()


@pytest.fixture(scope="session")
def mock_openai() -> Iterator[MockOpenAIServer]:
    with start_mock_openai() as server:
        yield server


@pytest.fixture
def settings(sandbox: Sandbox, moto_url: str, mock_openai: MockOpenAIServer) -> Settings:
    settings = sandbox.settings(
        s3_endpoint_url=moto_url,
        openai_base_url=mock_openai.base_url,
        openai_backoff_initial_seconds=0.01,
        openai_backoff_max_seconds=0.05,
    )
    bucket.ensure(settings)
    return settings


@pytest.fixture
def broker(sandbox: Sandbox) -> Iterator[Connection]:
    """A connection to the sandbox's vhost with the topology freshly reset (queues empty)."""
    with Connection(sandbox.broker_url) as conn:
        topology.reset(conn)
        yield conn
