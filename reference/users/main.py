"""users-service on its own (as in Kubernetes): ``uvicorn reference.users.main:app``."""

from __future__ import annotations

from reference.common import checks
from reference.common.app import create_app
from reference.users.api import router

# PostgreSQL (profiles, the waste history), Redis (the token deny-list).
CHECKS = (checks.POSTGRES, checks.REDIS)

app = create_app(
    "users",
    [router],
    CHECKS,
    title="users-service",
    description="The caller's profile, scan history and personal statistics.",
)
