"""All services in one ASGI app, routed by path like the seed's load balancer.

For the single-process local mode: ``uvicorn reference.gateway:app``. Each service also runs
on its own (``reference.<service>.main:app``) as in Kubernetes.
"""

from __future__ import annotations

from fastapi import APIRouter

from reference.auth import api as auth_api
from reference.auth import main as auth_main
from reference.common.app import ReadinessCheck, create_app
from reference.locations import api as locations_api
from reference.locations import main as locations_main
from reference.users import api as users_api
from reference.users import main as users_main
from reference.waste import api as waste_api
from reference.waste import main as waste_main

# (router, readiness checks) of every service the gateway routes to. waste first: the router
# tries routes in order, and its status and result polls are most of the traffic.
SERVICES: tuple[tuple[APIRouter, tuple[ReadinessCheck, ...]], ...] = (
    (waste_api.router, waste_main.CHECKS),
    (auth_api.router, auth_main.CHECKS),
    (users_api.router, users_main.CHECKS),
    (locations_api.router, locations_main.CHECKS),
)


def _checks() -> list[ReadinessCheck]:
    unique: dict[str, ReadinessCheck] = {}
    for _, service_checks in SERVICES:
        for check in service_checks:
            unique.setdefault(check.name, check)
    return list(unique.values())


app = create_app(
    "gateway",
    [router for router, _ in SERVICES],
    _checks(),
    title="AI Waste Coach API",
    description="The reference backend: every service under /api/v1, as the load balancer routes.",
    lean_routes=waste_api.LEAN_ROUTES,
)
