"""waste-service on its own (as in Kubernetes): ``uvicorn reference.waste.main:app``."""

from __future__ import annotations

from reference.common import checks
from reference.common.app import create_app
from reference.waste.api import LEAN_ROUTES, router

CHECKS = (checks.POSTGRES, checks.REDIS, checks.RABBITMQ, checks.S3)

app = create_app(
    "waste",
    [router],
    CHECKS,
    title="waste-service",
    description="Photo analysis: pre-signed upload, queueing to the AI worker, progress, result.",
    lean_routes=LEAN_ROUTES,
)
