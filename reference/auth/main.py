"""auth-service on its own (as in Kubernetes): ``uvicorn reference.auth.main:app``."""

from __future__ import annotations

from reference.auth.api import router
from reference.common import checks
from reference.common.app import create_app

# PostgreSQL (accounts), Redis (state, deny-list, task results), RabbitMQ (oauth.verify).
CHECKS = (checks.POSTGRES, checks.REDIS, checks.RABBITMQ)

app = create_app(
    "auth",
    [router],
    CHECKS,
    title="auth-service",
    description="Social login (Kakao, Naver, Google) through oauth.verify on q.api; JWT access "
    "and refresh tokens, rotation, logout.",
)
