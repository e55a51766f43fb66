"""The storage tier (PostgreSQL, Redis, RabbitMQ) brought up three ways behind one interface.

``running`` uses servers already up (URLs from ``WASTECOACH_*_URL``), ``ephemeral`` starts
private servers from the installed binaries in a temporary directory, ``container`` runs them
in Docker through testcontainers. :func:`choose` picks one per server (``auto`` tries them in
that order) and :class:`StorageTier` brings all three up and down together::

    with StorageTier("auto") as tier:
        env = tier.env()  # WASTECOACH_DATABASE_URL, WASTECOACH_REDIS_URL, WASTECOACH_BROKER_URL
"""

from harness.providers.base import Kind, Mode, Provider, ProviderError, ProviderTimeout
from harness.providers.container import ContainerProvider, docker_problem
from harness.providers.ephemeral.postgres import EphemeralPostgres
from harness.providers.ephemeral.rabbitmq import EphemeralRabbitMQ
from harness.providers.ephemeral.redis import EphemeralRedis
from harness.providers.running import RunningProvider
from harness.providers.select import SelectMode, choose, make
from harness.providers.tier import StorageTier

__all__ = [
    "ContainerProvider",
    "EphemeralPostgres",
    "EphemeralRabbitMQ",
    "EphemeralRedis",
    "Kind",
    "Mode",
    "Provider",
    "ProviderError",
    "ProviderTimeout",
    "RunningProvider",
    "SelectMode",
    "StorageTier",
    "choose",
    "docker_problem",
    "make",
]
