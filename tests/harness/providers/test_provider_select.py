"""The resolver: which way ``choose`` picks, and what it says when a way cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.providers import (
    ContainerProvider,
    EphemeralPostgres,
    EphemeralRabbitMQ,
    EphemeralRedis,
    ProviderError,
    RunningProvider,
    choose,
)
from harness.providers import container as container_module
from harness.providers.ephemeral import postgres as postgres_module
from harness.providers.ephemeral import rabbitmq as rabbitmq_module
from harness.providers.ephemeral import redis as redis_module
from harness.providers.kinds import KINDS
from harness.providers.ports import free_port

EPHEMERAL = {"postgres": EphemeralPostgres, "redis": EphemeralRedis, "rabbitmq": EphemeralRabbitMQ}
URL_VARS = {
    "postgres": "WASTECOACH_DATABASE_URL",
    "redis": "WASTECOACH_REDIS_URL",
    "rabbitmq": "WASTECOACH_BROKER_URL",
}
DEAD_URLS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
    "redis": "redis://127.0.0.1:{port}/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:{port}//",
}


@pytest.fixture
def nothing_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every URL at a port nobody listens on."""
    for kind, var in URL_VARS.items():
        monkeypatch.setenv(var, DEAD_URLS[kind].format(port=free_port()))


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide every server binary: empty PATH, no well-known directories, no overrides."""
    monkeypatch.setenv("PATH", str(tmp_path))
    for module in (postgres_module, redis_module, rabbitmq_module):
        monkeypatch.setattr(module, "SEARCH_DIRS", ())
    for var in (postgres_module.BINDIR_VAR, redis_module.SERVER_VAR, rabbitmq_module.SERVER_VAR):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A DOCKER_HOST where no engine listens (a socket path that does not exist)."""
    host = f"unix://{tmp_path}/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    return host


@pytest.fixture
def docker_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a Docker engine answers (nothing is started in these tests)."""
    monkeypatch.setattr(container_module, "docker_problem", lambda timeout=3.0: None)


@pytest.mark.integration
@pytest.mark.usefixtures("no_provider_env")
@pytest.mark.parametrize("kind", KINDS)
def test_auto_prefers_the_running_server(kind: str) -> None:
    assert isinstance(choose(kind), RunningProvider)  # type: ignore[arg-type]


@pytest.fixture
def recent_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stand-ins for recent server binaries, so the test does not depend on this machine."""
    _script(tmp_path / "pg/postgres", "postgres (PostgreSQL) 16.1")
    _script(tmp_path / "pg/initdb", "initdb (PostgreSQL) 16.1")
    redis = _script(tmp_path / "redis-server", "Redis server v=7.2.4 sha=00000000:0 bits=64")
    rabbit = _script(tmp_path / "rabbitmq_server-3.12.1/sbin/rabbitmq-server", "")
    _script(tmp_path / "path/erl", "")
    monkeypatch.setenv("WASTECOACH_POSTGRES_BINDIR", str(tmp_path / "pg"))
    monkeypatch.setenv("WASTECOACH_REDIS_SERVER", str(redis))
    monkeypatch.setenv("WASTECOACH_RABBITMQ_SERVER", str(rabbit))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))


@pytest.mark.usefixtures("nothing_running", "recent_binaries")
@pytest.mark.parametrize("kind", KINDS)
def test_auto_falls_back_to_ephemeral_when_nothing_runs(kind: str) -> None:
    assert isinstance(choose(kind), EPHEMERAL[kind])  # type: ignore[arg-type]


@pytest.mark.usefixtures("nothing_running", "no_binaries", "docker_answers")
@pytest.mark.parametrize("kind", KINDS)
def test_auto_falls_back_to_a_container_without_binaries(kind: str) -> None:
    provider = choose(kind)  # type: ignore[arg-type]
    assert isinstance(provider, ContainerProvider)
    assert provider.kind == kind


@pytest.mark.usefixtures("nothing_running", "no_binaries")
@pytest.mark.parametrize("kind", KINDS)
def test_auto_names_everything_it_tried(kind: str, no_docker: str) -> None:
    with pytest.raises(ProviderError) as caught:
        choose(kind)  # type: ignore[arg-type]
    message = caught.value.message
    assert message.startswith("no way to provide")
    assert "running: " in message and "does not answer" in message
    assert "ephemeral: " in message and "not found" in message
    assert "container: " in message and f"no Docker engine answers at {no_docker}" in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", KINDS)
def test_explicit_container_without_docker(kind: str, no_docker: str) -> None:
    with pytest.raises(ProviderError) as caught:
        choose(kind, "container")  # type: ignore[arg-type]
    message = caught.value.message
    assert f"no Docker engine answers at {no_docker}" in message
    assert "start Docker" in message and "mode 'running' or 'ephemeral'" in message


@pytest.mark.usefixtures("no_binaries")
@pytest.mark.parametrize(
    ("kind", "binary", "variable"),
    [
        ("postgres", "postgres", "WASTECOACH_POSTGRES_BINDIR"),
        ("redis", "redis-server", "WASTECOACH_REDIS_SERVER"),
        ("rabbitmq", "rabbitmq-server", "WASTECOACH_RABBITMQ_SERVER"),
    ],
)
def test_explicit_ephemeral_without_binaries(kind: str, binary: str, variable: str) -> None:
    with pytest.raises(ProviderError) as caught:
        choose(kind, "ephemeral")  # type: ignore[arg-type]
    message = caught.value.message
    assert f"binary {binary} not found" in message
    assert "apt-get install" in message and variable in message


def _script(path: Path, output: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)
    return path


def test_postgres_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _script(tmp_path / "bin/postgres", "postgres (PostgreSQL) 12.17")
    _script(tmp_path / "bin/initdb", "initdb (PostgreSQL) 12.17")
    monkeypatch.setenv("WASTECOACH_POSTGRES_BINDIR", str(tmp_path / "bin"))
    with pytest.raises(ProviderError, match=r"PostgreSQL 12\.17 at .* is too old: .* >= 13"):
        choose("postgres", "ephemeral")


def test_postgres_without_initdb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _script(tmp_path / "bin/postgres", "postgres (PostgreSQL) 15.2")
    monkeypatch.setenv("WASTECOACH_POSTGRES_BINDIR", str(tmp_path / "bin"))
    with pytest.raises(ProviderError, match="initdb is missing beside"):
        choose("postgres", "ephemeral")


def test_redis_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = _script(tmp_path / "redis-server", "Redis server v=5.0.7 sha=00000000:0 bits=64")
    monkeypatch.setenv("WASTECOACH_REDIS_SERVER", str(server))
    with pytest.raises(ProviderError, match=r"Redis 5\.0\.7 at .* is too old: .* >= 6"):
        choose("redis", "ephemeral")


def test_rabbitmq_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = _script(tmp_path / "rabbitmq_server-3.8.9/sbin/rabbitmq-server", "")
    monkeypatch.setenv("WASTECOACH_RABBITMQ_SERVER", str(server))
    with pytest.raises(ProviderError, match=r"RabbitMQ 3\.8\.9 at .* is too old: .* >= 3\.9"):
        choose("rabbitmq", "ephemeral")


def test_override_that_leads_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WASTECOACH_REDIS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(ProviderError, match="does not lead to an executable redis-server"):
        choose("redis", "ephemeral")


def test_rabbitmq_needs_erlang(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = _script(tmp_path / "rabbitmq_server-3.10.8/sbin/rabbitmq-server", "")
    monkeypatch.setenv("WASTECOACH_RABBITMQ_SERVER", str(server))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProviderError, match=r"Erlang \(erl\) is not on PATH"):
        choose("rabbitmq", "ephemeral")


def test_unknown_kind_and_mode() -> None:
    with pytest.raises(ProviderError, match="unknown server kind 'mysql'"):
        choose("mysql")  # type: ignore[arg-type]
    with pytest.raises(ProviderError, match="unknown provider mode 'cloud'"):
        choose("redis", "cloud")  # type: ignore[arg-type]
