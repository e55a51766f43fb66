"""Container mode: real containers where a Docker engine answers, stand-ins for the rest."""

from __future__ import annotations

import os
from typing import Any

import pytest

from harness.providers import ContainerProvider, ProviderError, docker_problem
from harness.providers import container as container_module
from harness.providers.kinds import KINDS, SPECS


class FakeContainer:
    """Stands in for testcontainers' ``DockerContainer`` (no engine is contacted)."""

    def __init__(
        self,
        image: str,
        *,
        fail: Exception | None = None,
        status: str = "running",
        port: int = 1,
        logs: bytes = b"",
    ) -> None:
        self.image = image
        self.env: dict[str, str] = {}
        self.fail, self.status, self.port, self.logs = fail, status, port, logs
        self.stopped = False
        self.started = False

    def with_exposed_ports(self, *ports: int) -> FakeContainer:
        return self

    def with_env(self, name: str, value: str) -> FakeContainer:
        self.env[name] = value
        return self

    def start(self) -> FakeContainer:
        self.started = True
        if self.fail is not None:
            raise self.fail
        return self

    def stop(self) -> None:
        self.stopped = True

    def get_container_host_ip(self) -> str:
        return "localhost"

    def get_exposed_port(self, port: int) -> int:
        return self.port

    def get_wrapped_container(self) -> Any:
        status = self.status

        class Wrapped:
            id = "f" * 64

            def reload(self) -> None:
                self.status = status

        return Wrapped()

    def get_logs(self) -> tuple[bytes, bytes]:
        return self.logs, b""


class FakeEngine:
    """Makes :class:`FakeContainer` objects with the options a test sets beforehand."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self.created: list[FakeContainer] = []
        self.image_present = True

    def create(self, image: str) -> FakeContainer:
        self.created.append(FakeContainer(image, **self.options))
        return self.created[-1]


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """Docker "answers" and every container made is a :class:`FakeContainer`."""
    tc_container = pytest.importorskip("testcontainers.core.container")
    engine = FakeEngine()
    monkeypatch.setattr(container_module, "docker_problem", lambda timeout=3.0: None)
    monkeypatch.setattr(tc_container, "DockerContainer", engine.create)
    monkeypatch.setattr(ContainerProvider, "_image_present", lambda self: engine.image_present)
    return engine


def test_missing_image_says_how_to_provide_it(fake_engine: FakeEngine) -> None:
    docker_errors = pytest.importorskip("docker.errors")

    fake_engine.image_present = False
    fake_engine.options.update(
        fail=docker_errors.ImageNotFound("404 Client Error: pull access denied for postgres")
    )
    provider = ContainerProvider("postgres")
    with pytest.raises(ProviderError) as caught:
        provider.start()
    message = caught.value.message
    assert "image postgres:15-alpine is not present locally and could not be pulled" in message
    assert "docker import" in message and "WASTECOACH_POSTGRES_IMAGE" in message
    assert fake_engine.created[0].stopped  # the half-made container is removed
    assert fake_engine.created[0].env == {
        "POSTGRES_HOST_AUTH_METHOD": "trust",
        "POSTGRES_USER": "postgres",
    }
    assert not provider.started


def test_no_pull_fails_before_creating_anything(fake_engine: FakeEngine) -> None:
    fake_engine.image_present = False
    with pytest.raises(ProviderError, match="not present locally and pulling is off"):
        ContainerProvider("redis", pull=False).start()
    assert fake_engine.created[0].started is False


def test_missing_port_mapping_names_the_bridge(fake_engine: FakeEngine) -> None:
    fake_engine.options.update(
        fail=ConnectionError("Port mapping for container abc and port 6379 is not available")
    )
    with pytest.raises(ProviderError, match=r"needs a bridge network \(dockerd without"):
        ContainerProvider("redis").start()


def test_ryuk_failure_points_at_the_switch(fake_engine: FakeEngine) -> None:
    fake_engine.options.update(
        fail=RuntimeError("404 Client Error for testcontainers/ryuk:0.8.1: Not Found")
    )
    with pytest.raises(ProviderError, match="TESTCONTAINERS_RYUK_DISABLED=true"):
        ContainerProvider("redis").start()


def test_container_that_exits_reports_its_logs(fake_engine: FakeEngine) -> None:
    fake_engine.options.update(status="exited", logs=b"FATAL: data directory has wrong ownership\n")
    with pytest.raises(ProviderError) as caught:
        ContainerProvider("postgres", startup_timeout=30).start()
    assert "stopped during start-up (the container is exited)" in caught.value.message
    assert "wrong ownership" in caught.value.details
    assert fake_engine.created[0].stopped


def test_image_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTECOACH_RABBITMQ_IMAGE", "registry.local/rabbitmq:3.10.25")
    assert ContainerProvider("rabbitmq").image == "registry.local/rabbitmq:3.10.25"
    assert ContainerProvider("rabbitmq", image="mine:1").image == "mine:1"


@pytest.mark.integration
@pytest.mark.usefixtures("no_provider_env")
def test_container_url_and_readiness_with_a_stand_in_engine(
    fake_engine: FakeEngine,
) -> None:
    # The stand-in "maps" the container port to the live Redis, so the real probe runs.
    fake_engine.options.update(port=6379)
    with ContainerProvider("redis") as provider:
        assert provider.url() == "redis://127.0.0.1:6379/0"
        assert provider.container_id == "f" * 64
    assert fake_engine.created[0].stopped


# --- against a real engine -------------------------------------------------------------------


def _real_engine_skip_reason(kind: str) -> str | None:
    problem = docker_problem()
    if problem is not None:
        return f"{problem}; container tests need a reachable Docker engine"
    import docker

    image = SPECS[kind].image_name()  # type: ignore[index]
    client = docker.from_env()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        # Pulling would reach a registry; these tests only use images already present.
        return f"image {image} is not present locally (docker pull or docker import it)"
    finally:
        client.close()
    return None


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_real_container_starts_serves_and_is_removed(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = _real_engine_skip_reason(kind)
    if reason is not None:
        pytest.skip(reason)
    import docker
    from testcontainers.core.config import testcontainers_config

    if os.environ.get("TESTCONTAINERS_RYUK_DISABLED") is None:
        # The reaper's image is not pullable here; the provider removes its own containers.
        monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)

    provider = ContainerProvider(kind)  # type: ignore[arg-type]
    with provider:
        container_id = provider.container_id
        if kind == "postgres":
            with provider.client() as connection:
                connection.execute("CREATE TABLE t (id int)")
                assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
        elif kind == "redis":
            client = provider.client()
            try:
                client.set("k", "v")
                assert client.get("k") == b"v"
            finally:
                client.close()
        else:
            with provider.client() as connection:
                queue = connection.SimpleQueue("q.test")
                queue.put({"n": 1})
                assert queue.get(timeout=5).payload == {"n": 1}
                queue.close()
    client = docker.from_env()
    try:
        assert client.containers.list(all=True, filters={"id": container_id}) == []
    finally:
        client.close()


@pytest.mark.integration
def test_real_engine_without_the_image_and_pulling_off_leaves_nothing() -> None:
    problem = docker_problem()
    if problem is not None:
        pytest.skip(f"{problem}; container tests need a reachable Docker engine")
    import docker

    client = docker.from_env()
    try:
        before = client.containers.list(all=True)
        with pytest.raises(ProviderError, match="not present locally and pulling is off"):
            ContainerProvider("redis", image="wastecoach-absent/redis:0", pull=False).start()
        assert client.containers.list(all=True) == before
    finally:
        client.close()
