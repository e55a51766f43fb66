"""A request body limit that counts the bytes received, not only the ``Content-Length``.

A chunked body has no ``Content-Length``: a check of the header alone let one be read whole (before
authentication). This ASGI middleware refuses a declared length over the limit before reading
anything and stops a body that grows past it while it is read; either way 413
``body_too_large``.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MESSAGE = "request body over {limit} bytes; images go to the pre-signed S3 upload, not to this API"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-body. An HTTPException, so FastAPI's body parsing lets it
    through and the app's handler answers it as 413 ``body_too_large``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, MESSAGE.format(limit=limit))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"code": "body_too_large", "message": MESSAGE.format(limit=self.max_bytes)}
        await JSONResponse(body, status_code=413)(scope, receive, send)
