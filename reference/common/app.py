"""The FastAPI app factory every service (and the gateway) is built with.

It adds what each service needs alike: JSON errors with stable codes, a request body limit,
Prometheus metrics, ``/healthz`` (liveness: the process answers, no dependency is touched) and
``/readyz`` (readiness: every dependency the service needs answers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from reference.common import openapi
from reference.common.body_limit import BodyLimit
from reference.common.errors import install_error_handlers
from reference.common.lean import LeanRoute, LeanRoutes, resolve
from reference.common.settings import Settings, get_settings
from reference.common.telemetry import RequestMetrics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # JSON bodies only; images go straight to S3


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    check: Callable[[Settings], None]  # raises when the dependency does not answer


def create_app(
    service: str,
    routers: Sequence[APIRouter],
    checks: Sequence[ReadinessCheck],
    *,
    title: str,
    description: str = "",
    lean_routes: Sequence[LeanRoute] = (),
) -> FastAPI:
    """The service's app; ``lean_routes`` (routes of ``routers``) are also answered ahead of the
    router (reference.common.lean)."""
    # The services export Prometheus metrics (reference.common.telemetry), not OpenTelemetry:
    # FastAPI's own OpenTelemetry hooks are off (asking on every request whether a provider is
    # configured cost a thirtieth of a status poll).
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    # The last added is the outermost: the metrics count every request, the body limit checks
    # every body, and the lean routes see only what the body limit let through.
    if lean_routes:
        app.add_middleware(LeanRoutes, routes=resolve(routers, lean_routes))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics, service=service)
    openapi.install(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        settings = app.dependency_overrides.get(get_settings, get_settings)()
        results: dict[str, str] = {}
        for item in checks:
            try:
                await run_in_threadpool(item.check, settings)
                results[item.name] = "ok"
            except Exception:
                # The dependency's own error text (hosts, users, versions) goes to the log only.
                log.warning("readiness check %s failed", item.name, exc_info=True)
                results[item.name] = "unavailable"
        ready = all(value == "ok" for value in results.values())
        body = {"status": "ready" if ready else "not_ready", "checks": results}
        if not ready:
            body["code"] = "not_ready"
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
