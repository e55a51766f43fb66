"""What every fake serves beside the API it fakes: ``GET/PUT /_mock/config``, ``GET /_mock/stats``,
``POST /_mock/reset`` and ``GET /healthz``, with one error shape for a config that is refused."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError


class Fake(Protocol):
    """What the admin routes need of a fake."""

    @property
    def config(self) -> Any: ...

    def configure(self, config: Any) -> None: ...

    def reset(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


def add_admin_routes(app: FastAPI, fake: Fake, model: type[BaseModel]) -> None:
    """Add the admin routes for ``fake``, whose config is a ``model``. A refused config is a 422
    with ``{"code": "invalid_config", "message": ..., "errors": [...]}`` and changes nothing."""

    @app.get("/_mock/config")
    async def get_config() -> dict[str, Any]:
        return fake.config.model_dump(mode="json")

    @app.put("/_mock/config", response_model=None)
    async def put_config(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            new = model.model_validate_json(await request.body())
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            body = {
                "code": "invalid_config",
                "message": "config rejected; see errors",
                "errors": errors,
            }
            return JSONResponse(body, status_code=422)
        fake.configure(new)
        return new.model_dump(mode="json")

    @app.get("/_mock/stats")
    async def get_stats() -> dict[str, Any]:
        return fake.stats()

    @app.post("/_mock/reset")
    async def reset() -> dict[str, Any]:
        fake.reset()
        return fake.stats()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}
