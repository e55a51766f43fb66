"""Lean routes (reference.common.lean) on a toy app: they answer their paths ahead of the router
with the route's own handler, errors as the app's handlers would, and take nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Request, Response
from fastapi.testclient import TestClient

from reference.common.app import create_app
from reference.common.errors import ApiError
from reference.common.lean import LeanRoute, LeanRoutes, resolve

calls: list[str] = []


async def item(request: Request, item_id: str) -> Response:
    # The router leaves the endpoint in the scope; the lean dispatch only the route.
    calls.append("router" if "endpoint" in request.scope else "lean")
    if item_id == "missing":
        raise ApiError(404, "item_not_found", f"no item {item_id}", item=item_id)
    if item_id == "boom":
        raise RuntimeError("password=hunter2")
    return Response(item_id.encode(), media_type="text/plain")


router = APIRouter(prefix="/items")


@router.get("/{item_id}")
async def get_item(item_id: str, request: Request) -> Response:
    return await item(request, item_id)


@router.get("/{item_id}/parts")
def parts(item_id: str) -> list[str]:
    return [item_id]


@router.post("/new")
def new() -> dict[str, str]:
    return {"made": "yes"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(
        "toy", [router], [], title="t", lean_routes=[LeanRoute("/items/{item_id}", item)]
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_lean_route_answers_with_its_handler_and_error_bodies(client: TestClient) -> None:
    calls.clear()
    assert client.get("/items/a").text == "a"
    missing = client.get("/items/missing")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "item_not_found",
        "message": "no item missing",
        "details": {"item": "missing"},
    }
    boom = client.get("/items/boom")
    assert boom.status_code == 500 and "hunter2" not in boom.text
    assert boom.json()["code"] == "internal_error"
    assert calls == ["lean"] * 3


def test_other_paths_and_methods_go_to_the_router(client: TestClient) -> None:
    calls.clear()
    assert client.get("/items/a/parts").json() == ["a"]
    assert client.post("/items/new").json() == {"made": "yes"}
    assert client.request("HEAD", "/items/a").status_code == 405  # as FastAPI's GET routes
    assert client.post("/items/a").status_code == 405
    assert calls == []
    with TestClient(create_app("toy", [router], [], title="routed")) as routed:
        assert routed.get("/items/a").text == "a"
    assert calls == ["router"]


def test_only_get_routes_ending_in_their_one_parameter_can_be_lean() -> None:
    with pytest.raises(ValueError, match="does not route"):
        resolve([router], [LeanRoute("/elsewhere/{x}", item)])
    with pytest.raises(ValueError, match="only path parameter"):
        LeanRoutes(router, resolve([router], [LeanRoute("/items/{item_id}/parts", item)]))
