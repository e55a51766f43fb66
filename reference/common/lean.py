"""Lean routes: a few hot ``GET`` routes answered ahead of FastAPI's router.

The app polls a job's status every 0.5 s, so a poll's every instruction counts. FastAPI's router,
its dependency injection and response handling were a third of a status poll's instructions
(331k of 969k, callgrind on the gateway alone), the poll itself one Redis round trip. A lean
route is a FastAPI route (it stays in the router, so the OpenAPI document, the fuzz tests and a
client see it as before) whose handler, an ``async (request, path parameter) -> Response``
function, this middleware also calls directly when a request's path is the route's. Both ways
run the same handler, so they answer alike; an :class:`~reference.common.errors.ApiError`
becomes the same error body through :func:`~reference.common.errors.error_response`; anything
else propagates to the app's ``internal_error`` handler as it does from the router.

The middleware sits inside the body limit and the request metrics (see
:func:`reference.common.app.create_app`), and leaves the matched route in the scope as the
router does, so the metrics label a lean request by its route template.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from reference.common.errors import ApiError, error_response

LeanHandler = Callable[[Request, str], Awaitable[Response]]


@dataclass(frozen=True)
class LeanRoute:
    """A ``GET`` route ending in its one path parameter, ``/prefix/{name}``, and its handler
    (which the FastAPI route calls too)."""

    path: str
    handler: LeanHandler


class _Served:
    def __init__(self, route: APIRoute, handler: LeanHandler) -> None:
        prefix, brace, name = route.path.partition("{")
        if not brace or "{" in prefix or not name.endswith("}") or "/" in name:
            raise ValueError(f"a lean route ends in its only path parameter: {route.path}")
        if "GET" not in route.methods or route.param_convertors[name[:-1]].regex != "[^/]+":
            raise ValueError(f"a lean route is a GET with a plain path parameter: {route.path}")
        self.prefix = prefix
        self.name = name[:-1]
        self.route = route
        self.handler = handler


class LeanRoutes:
    """ASGI middleware answering ``GET`` requests to its routes with their handlers; every other
    request (another method or path, a mounted app's ``root_path``) goes on to the app."""

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[APIRoute, LeanHandler]]) -> None:
        self.app = app
        self.routes = [_Served(route, handler) for route, handler in routes]

    def _match(self, scope: Scope) -> tuple[_Served, str] | None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        for served in self.routes:
            if path.startswith(served.prefix):
                value = path[len(served.prefix) :]
                # What the router's ``{name}`` takes: one non-empty path segment.
                return (served, value) if value and "/" not in value else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._match(scope)
        if matched is None:
            await self.app(scope, receive, send)
            return
        served, value = matched
        scope["route"] = served.route  # as the router leaves it: the metrics' route label
        scope["path_params"] = {served.name: value}
        try:
            response = await served.handler(Request(scope, receive), value)
        except ApiError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


def resolve(
    routers: Sequence[APIRouter], lean: Sequence[LeanRoute]
) -> list[tuple[APIRoute, LeanHandler]]:
    """Each lean route's FastAPI route in ``routers`` (the object the router leaves in the
    scope), with its handler."""
    by_path = {
        route.path: route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in route.methods
    }
    missing = [item.path for item in lean if item.path not in by_path]
    if missing:
        raise ValueError(f"lean routes the app does not route: {', '.join(missing)}")
    return [(by_path[item.path], item.handler) for item in lean]
