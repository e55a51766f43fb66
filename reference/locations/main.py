"""locations-service on its own (as in Kubernetes): ``uvicorn reference.locations.main:app``."""

from __future__ import annotations

from reference.common import checks
from reference.common.app import create_app
from reference.locations.api import router

# Kakao is the api worker's dependency, not this service's: the service needs the broker to
# queue map.search and Redis for its answers and the cache.
CHECKS = (checks.POSTGRES, checks.REDIS, checks.RABBITMQ)

app = create_app(
    "locations",
    [router],
    CHECKS,
    title="locations-service",
    description="Collection points near the user (PostgreSQL) and keyword search through "
    "Kakao Map (map.search on q.api).",
)
