"""Servers in Docker containers through testcontainers (the ``containers`` extra).

Docker is only touched when this mode is chosen: importing this module costs nothing, and
``check_available()`` is where the engine is first asked whether it answers.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from harness.providers.base import Kind, Provider, ProviderError
from harness.providers.kinds import spec_for
from harness.providers.readiness import Check, ServerGone, tail_text, wait_ready

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

INSTALL_HINT = "pip install 'wastecoach[containers]'"


def docker_problem(timeout: float = 3.0) -> str | None:
    """Why no Docker engine can be used (one line), or ``None`` if one answers a ping."""
    try:
        import docker
        import testcontainers  # noqa: F401 - only its presence is checked here
    except ImportError as exc:
        return f"the {exc.name} package is missing ({INSTALL_HINT})"
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if where.startswith("unix://"):
        # Knock first: docker-py leaks its socket when a Unix socket refuses the connection.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(where.removeprefix("unix://"))
            except OSError as exc:
                return f"no Docker engine answers at {where} ({exc.strerror or exc})"
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        return f"no Docker engine answers at {where} ({reason})"
    return None


class ContainerProvider(Provider):
    """A server in a throw-away container; its mapped port is published as the URL.

    The image is ``WASTECOACH_<KIND>_IMAGE`` or the pinned default (``postgres:15-alpine``,
    ``redis:7-alpine``, ``rabbitmq:3.10-management-alpine``). testcontainers pulls it when
    absent and, unless ``TESTCONTAINERS_RYUK_DISABLED=true``, starts its Ryuk reaper container
    as well.
    """

    mode = "container"

    def __init__(
        self,
        kind: Kind,
        *,
        image: str | None = None,
        pull: bool = True,
        startup_timeout: float = 120.0,
    ) -> None:
        super().__init__(spec_for(kind))
        self.image = image or self.spec.image_name()
        #: Whether a missing image may be pulled; ``False`` keeps an offline run offline.
        self.pull = pull
        self.startup_timeout = startup_timeout
        self._container: DockerContainer | None = None

    def check_available(self) -> None:
        problem = docker_problem()
        if problem is not None:
            raise ProviderError(
                f"cannot run {self.spec.title} in a container: {problem}; start Docker "
                "(dockerd or Docker Desktop) or set DOCKER_HOST, or use mode 'running' or "
                "'ephemeral'"
            )

    def _start(self) -> str:
        self.check_available()
        from testcontainers.core.container import DockerContainer

        ports = [self.spec.container_port]
        if self.spec.container_admin_port is not None:
            ports.append(self.spec.container_admin_port)
        container = DockerContainer(self.image).with_exposed_ports(*ports)
        for name, value in self.spec.container_env.items():
            container.with_env(name, value)
        self._container = container
        image_present = self._image_present()
        if not image_present and not self.pull:
            raise ProviderError(
                f"image {self.image} is not present locally and pulling is off; "
                f"`docker pull {self.image}`, `docker import` a root filesystem under that name, "
                f"or set WASTECOACH_{self.kind.upper()}_IMAGE"
            )
        try:
            container.start()
            host = container.get_container_host_ip()
            port = int(container.get_exposed_port(self.spec.container_port))
        except Exception as exc:
            message = self._start_failure(exc, image_present)
            raise ProviderError(message, details=self.log_tail()) from exc
        # testcontainers says "localhost" for a local engine; the app's URLs use 127.0.0.1.
        host = "127.0.0.1" if host == "localhost" else host
        url = self.spec.url(host, port)
        wait_ready(
            [self._still_running(container), self.spec.probe(url, 2.0)],
            timeout=self.startup_timeout,
            what=f"{self.spec.title} container {self.image}",
            logs=self.log_tail,
        )
        return url

    def management_url(self) -> str:
        """``http://HOST:PORT`` of the container's admin port (RabbitMQ's management API)."""
        admin = self.spec.container_admin_port
        if self._container is None or admin is None:
            raise ProviderError(f"{self.spec.title} container has no admin port or is not started")
        host = self._container.get_container_host_ip()
        host = "127.0.0.1" if host == "localhost" else host
        return f"http://{host}:{self._container.get_exposed_port(admin)}"

    def _stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.stop()

    def _image_present(self) -> bool:
        import docker

        client = docker.from_env()
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            return False
        finally:
            client.close()
        return True

    @property
    def container_id(self) -> str | None:
        """The Docker id of the running container, else ``None``."""
        if self._container is None:
            return None
        wrapped = self._container.get_wrapped_container()
        return wrapped.id if wrapped is not None else None

    def log_tail(self) -> str:
        """The last lines of the container's stdout and stderr."""
        if self._container is None:
            return ""
        try:
            out, err = self._container.get_logs()
        except Exception:  # the container may already be gone; the error says enough then
            return ""
        return tail_text((out + err).decode("utf-8", errors="replace"))

    def _start_failure(self, exc: Exception, image_present: bool) -> str:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        if "ryuk" in reason.lower():
            return (
                f"testcontainers could not start its Ryuk reaper ({reason}); make its image "
                "available or set TESTCONTAINERS_RYUK_DISABLED=true (this provider removes its "
                "own containers on stop)"
            )
        if not image_present:
            return (
                f"image {self.image} is not present locally and could not be pulled "
                f"({reason}); `docker pull {self.image}`, `docker import` a root filesystem "
                f"under that name, or set WASTECOACH_{self.kind.upper()}_IMAGE"
            )
        if "port mapping" in reason.lower():
            return (
                f"Docker published no host port for {self.spec.title}'s port "
                f"{self.spec.container_port} ({reason}); the engine needs a bridge network "
                "(dockerd without --bridge=none), or use mode 'running' or 'ephemeral'"
            )
        return f"could not start container {self.image} ({reason}); see `docker ps -a` and its logs"

    @staticmethod
    def _still_running(container: DockerContainer) -> Check:
        def check() -> None:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                raise ServerGone(f"the container is {wrapped.status}")

        return check
