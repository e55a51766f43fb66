"""Ephemeral mode: private servers from the installed binaries, used, then gone without trace."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import kombu
import pytest

from harness.providers import (
    EphemeralPostgres,
    EphemeralRabbitMQ,
    EphemeralRedis,
    ProviderError,
    ProviderTimeout,
    RunningProvider,
)
from harness.providers.ephemeral import base as ephemeral_base
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ports import LOOPBACK, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AssertGone = Callable[[EphemeralServer, Path, list[int], int], None]


def _running(server: EphemeralServer) -> tuple[Path, list[int], int]:
    assert server.workdir is not None and server.workdir.is_dir()
    assert server.pid is not None
    return server.workdir, list(server.ports), server.pid


def test_postgres_starts_serves_and_vanishes(assert_gone: AssertGone) -> None:
    server = EphemeralPostgres(database="wastecoach")
    with server:
        workdir, ports, pid = _running(server)
        assert server.url() == f"postgresql+psycopg://postgres@127.0.0.1:{ports[0]}/wastecoach"
        assert ports[0] != 5432
        if os.geteuid() == 0:
            # PostgreSQL refuses root: it must run as the unprivileged user.
            assert workdir.stat().st_uid != 0
        with server.client() as connection:
            connection.execute("CREATE TABLE bins (id serial PRIMARY KEY, category text)")
            connection.execute("INSERT INTO bins (category) VALUES ('clear PET')")
            assert connection.execute("SELECT category FROM bins").fetchall() == [("clear PET",)]
    assert_gone(server, workdir, ports, pid)


def test_redis_starts_serves_and_vanishes(assert_gone: AssertGone) -> None:
    server = EphemeralRedis(settings={"maxmemory-policy": "allkeys-lru"})
    with server:
        workdir, ports, pid = _running(server)
        client = server.client()
        try:
            client.set("wc:test", "glass")
            assert client.get("wc:test") == b"glass"
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
            assert client.config_get("save") == {"save": ""}
        finally:
            client.close()
    assert_gone(server, workdir, ports, pid)


def test_rabbitmq_starts_serves_and_vanishes(assert_gone: AssertGone) -> None:
    server = EphemeralRabbitMQ()
    with server:
        workdir, ports, pid = _running(server)
        assert len(ports) == 3 and not {5672, 25672, 15672} & set(ports)
        assert server.url() == f"amqp://guest:guest@127.0.0.1:{ports[0]}//"
        # Its own management API (the harness makes vhosts and reads queues through it).
        overview = httpx.get(f"{server.management_url()}/api/overview", auth=("guest", "guest"))
        assert overview.status_code == 200
        assert overview.json()["node"] == server.node_name
        queue = kombu.Queue("q.test", kombu.Exchange("tasks", type="topic"), "ai.*")
        with server.client() as connection:
            producer = connection.Producer()
            producer.publish(
                {"job": 1}, exchange=queue.exchange, routing_key="ai.analyze", declare=[queue]
            )
            message = queue(connection.default_channel).get(no_ack=True)
            assert message is not None and message.payload == {"job": 1}
    assert_gone(server, workdir, ports, pid)
    # The system's broker on 5672 is a different node and is still there.
    RunningProvider("rabbitmq", url="amqp://guest:guest@127.0.0.1:5672//").check_available()


def test_fixed_port_that_is_taken_is_refused_before_anything_starts(
    listening_port: int, temp_dirs: Callable[[str], set[Path]]
) -> None:
    before = temp_dirs("redis")
    server = EphemeralRedis(port=listening_port)
    with pytest.raises(ProviderError) as caught:
        server.start()
    assert f"port {listening_port} on 127.0.0.1 is already in use" in caught.value.message
    assert temp_dirs("redis") == before
    assert not server.started


def test_fixed_free_port_is_used() -> None:
    port = free_port()
    with EphemeralRedis(port=port) as server:
        assert server.url() == f"redis://{LOOPBACK}:{port}/0"


def test_a_port_lost_to_another_process_is_retried_on_a_fresh_one(
    listening_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates the race: the port we picked is taken before the server binds it.
    picks = iter([listening_port])
    real_free_port = ephemeral_base.free_port
    monkeypatch.setattr(ephemeral_base, "free_port", lambda: next(picks, None) or real_free_port())

    with EphemeralRedis() as server:
        assert server.ports[0] != listening_port
        client = server.client()
        try:
            assert client.ping()
        finally:
            client.close()


def test_a_server_that_dies_at_start_leaves_its_log_and_nothing_else(
    temp_dirs: Callable[[str], set[Path]],
) -> None:
    before = temp_dirs("redis")
    server = EphemeralRedis(settings={"no-such-directive": "1"})
    with pytest.raises(ProviderError) as caught:
        server.start()
    error = caught.value
    assert "stopped during start-up" in error.message
    assert "no-such-directive" in error.details  # Redis names the bad line in its log
    assert temp_dirs("redis") == before
    assert server.pid is None


class _UnreachableRedis(EphemeralRedis):
    """Starts fine but publishes a URL nobody listens on, so readiness never comes."""

    def _url_for(self, ports: list[int]) -> str:
        return f"redis://{LOOPBACK}:{free_port()}/0"


def test_start_up_timeout_reports_the_log_tail_and_cleans_up(
    temp_dirs: Callable[[str], set[Path]],
) -> None:
    before = temp_dirs("redis")
    server = _UnreachableRedis(startup_timeout=1.5)
    with pytest.raises(ProviderTimeout) as caught:
        server.start()
    error = caught.value
    assert "was not ready within 1.5 s" in error.message
    assert "Ready to accept connections" in error.details  # the real server's own words
    assert temp_dirs("redis") == before
    assert server.pid is None


def test_a_halted_server_resumes_on_its_port_with_its_data() -> None:
    with EphemeralRedis() as server:
        client = server.client()
        client.set("kept", "yes")
        client.save()  # what a clean shutdown would write anyway
        port, workdir = server.ports[0], server.workdir
        server.halt()
        with pytest.raises(Exception):  # noqa: B017 - any connection error: it is down
            server.client().ping()
        server.resume()
        assert server.ports[0] == port and server.workdir == workdir
        assert server.client().get("kept") == b"yes"


def test_resume_of_a_server_never_started_is_refused() -> None:
    with pytest.raises(ProviderError, match="never started"):
        EphemeralRedis().resume()
