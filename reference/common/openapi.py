"""The OpenAPI document says what the API accepts and answers, so a generated client or a
fuzzer (schemathesis in tests/reference/test_openapi_fuzz.py) reaches the real logic.

FastAPI's own document is completed here, from the routes themselves: the security schemes
(bearer token or the ``access_token`` cookie) on every operation that needs a caller, and the
error answers every operation can give whatever its route says (401 where a caller is needed,
413 where there is a body, 422 where there is any input).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from reference.common.security import ACCESS_COOKIE, get_claims

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": ACCESS_COOKIE},
}
ERROR = {"$ref": "#/components/schemas/ErrorOut"}
CALLER_SECURITY = [{"bearer": []}, {"cookie": []}]
# For a route that checks its caller's token itself (the hot path has no dependency to spare):
# ``@router.get(..., openapi_extra=NEEDS_CALLER)``.
NEEDS_CALLER: dict[str, Any] = {"security": CALLER_SECURITY}


def _needs_caller(dependant: Dependant) -> bool:
    return any(dep.call is get_claims or _needs_caller(dep) for dep in dependant.dependencies)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def complete(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with security and the error answers every operation can give."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            if _needs_caller(route.dependant) or operation.get("security") == CALLER_SECURITY:
                operation["security"] = CALLER_SECURITY
                answers.setdefault("401", _error("no valid access token"))
            if "requestBody" in operation:
                answers.setdefault("413", _error("request body over 1 MB"))
            if operation.get("parameters") or "requestBody" in operation:
                answers.setdefault("422", _error("input that is not accepted"))
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(app, document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
