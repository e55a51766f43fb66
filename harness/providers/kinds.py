"""What the providers know about each server of the storage tier, in one table.

The settings variable and its default come from the reference app's own settings, so the
harness and the app cannot disagree about where a server is expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from harness.providers.base import Kind, ProviderError
from harness.providers.probes import (
    amqp_client,
    amqp_probe,
    postgres_client,
    postgres_probe,
    redis_client,
    redis_probe,
)
from harness.providers.readiness import Check
from reference.common.settings import Settings

KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class KindSpec:
    """One server: how the app finds it, how to tell it is ready, how to run it in Docker."""

    kind: Kind
    title: str
    #: The reference settings field (and so ``WASTECOACH_<FIELD>``) holding its URL.
    settings_field: str
    #: The URL form the app uses, with ``{host}`` and ``{port}`` to fill in.
    url_template: str
    probe: Callable[[str, float], Check]
    client: Callable[[str], Any]
    #: Oldest release whose behaviour the harness relies on.
    min_version: tuple[int, ...]
    image: str
    container_port: int
    container_env: Mapping[str, str] = field(default_factory=dict)
    #: A second port the harness talks to in the container (RabbitMQ's management API).
    container_admin_port: int | None = None

    @property
    def env_var(self) -> str:
        """The environment variable the reference app reads this server's URL from."""
        return f"WASTECOACH_{self.settings_field.upper()}"

    @property
    def default_url(self) -> str:
        """The URL the app uses when the variable is unset (standard port on 127.0.0.1)."""
        return str(Settings.model_fields[self.settings_field].default)

    def url(self, host: str, port: int) -> str:
        """The app's URL for this server at ``host:port`` with the default credentials."""
        return self.url_template.format(host=host, port=port)

    def configured_url(self) -> str:
        """The URL from the environment, or the default."""
        return os.environ.get(self.env_var) or self.default_url

    def image_name(self) -> str:
        """The container image: ``WASTECOACH_<KIND>_IMAGE`` or the pinned default."""
        return os.environ.get(f"WASTECOACH_{self.kind.upper()}_IMAGE") or self.image


SPECS: dict[Kind, KindSpec] = {
    "postgres": KindSpec(
        kind="postgres",
        title="PostgreSQL",
        settings_field="database_url",
        url_template="postgresql+psycopg://postgres@{host}:{port}/postgres",
        probe=postgres_probe,
        client=postgres_client,
        min_version=(13,),
        image="postgres:15-alpine",
        container_port=5432,
        # Trust on the container's private network matches the password-less URL the app
        # uses locally; the container is reachable only through its mapped port.
        container_env={"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_USER": "postgres"},
    ),
    "redis": KindSpec(
        kind="redis",
        title="Redis",
        settings_field="redis_url",
        url_template="redis://{host}:{port}/0",
        probe=redis_probe,
        client=redis_client,
        min_version=(6,),
        image="redis:7-alpine",
        container_port=6379,
    ),
    "rabbitmq": KindSpec(
        kind="rabbitmq",
        title="RabbitMQ",
        settings_field="broker_url",
        url_template="amqp://guest:guest@{host}:{port}//",
        probe=amqp_probe,
        client=amqp_client,
        min_version=(3, 9),
        # 3.10 as in the design: classic queues with per-message priority. The management
        # image: the harness creates a vhost per run and reads queue statistics through it.
        image="rabbitmq:3.10-management-alpine",
        container_port=5672,
        container_admin_port=15672,
    ),
}


def spec_for(kind: str) -> KindSpec:
    """The spec of ``kind``, or a :class:`ProviderError` naming the valid kinds."""
    try:
        return SPECS[kind]  # type: ignore[index]
    except KeyError:
        raise ProviderError(
            f"unknown server kind {kind!r}; use one of {', '.join(KINDS)}"
        ) from None


def version_text(version: tuple[int, ...]) -> str:
    """``(3, 9)`` -> ``"3.9"``."""
    return ".".join(str(part) for part in version)
