"""HTTP errors as JSON with a stable ``code`` that clients (the app, the harness) branch on."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client can act on: HTTP status, stable code, human message, details."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def error_response(exc: ApiError) -> JSONResponse:
    """The answer to an ApiError, from the app's handler or from a lean route
    (:mod:`reference.common.lean`) alike."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


class ErrorOut(BaseModel):
    """The shape of every error answer."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting error answers."""
    return {status: {"model": ErrorOut} for status in statuses}


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _validation_code(exc: RequestValidationError) -> str:
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return "malformed_json"
    return "invalid_request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")}
            for err in exc.errors()
        ]
        code = _validation_code(exc)
        message = (
            "request body is not valid JSON"
            if code == "malformed_json"
            else ("request failed validation")
        )
        return JSONResponse(
            {"code": code, "message": message, "details": {"errors": errors}}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI answers 400 for a JSON body that is not UTF-8; it is malformed JSON.
            return JSONResponse(
                {"code": "malformed_json", "message": "request body is not UTF-8 JSON"},
                status_code=422,
            )
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Every method of the path, not only those of the first route matching it.
            headers = {"Allow": ", ".join(_allowed(request))}
        return JSONResponse(
            {"code": code, "message": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception goes to the log; the client learns nothing of the code behind it.
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"code": "internal_error", "message": "internal error; retry later"},
            status_code=500,
        )
