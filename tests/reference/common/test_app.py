"""The app factory's shared behaviour under hostile input: the body limit counts streamed bytes,
bodies that are not UTF-8 are malformed JSON, method labels are bounded, and no exception text
reaches a client (error answers, ``/readyz``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import BaseModel

from reference.common.app import MAX_BODY_BYTES, ReadinessCheck, create_app
from reference.common.settings import Settings

SECRET_TEXT = "password=hunter2 host=10.0.0.7"


class Echo(BaseModel):
    text: str


router = APIRouter()


@router.post("/echo")
def echo(body: Echo) -> dict[str, int]:
    return {"length": len(body.text)}


@router.get("/boom")
def boom() -> None:
    raise RuntimeError(SECRET_TEXT)


def _down(_: Settings) -> None:
    raise ConnectionError(SECRET_TEXT)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app("hostile", [router], [ReadinessCheck("db", _down)], title="t")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON body of ``total`` bytes, streamed (chunked: no Content-Length)."""
    yield b'{"text": "'
    left = total - len(b'{"text": "') - len(b'"}')
    while left > 0:
        part = min(size, left)
        yield b"x" * part
        left -= part
    yield b'"}'


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    app = create_app("hostile", [router], [], title="t")
    with TestClient(app) as client:
        answer = client.post(
            "/echo",
            content=_chunks(MAX_BODY_BYTES + 1),
            headers={"content-type": "application/json"},
        )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert answer.status_code == 413 and answer.json()["code"] == "body_too_large"


def test_a_chunked_body_at_the_limit_passes(client: TestClient) -> None:
    answer = client.post(
        "/echo", content=_chunks(MAX_BODY_BYTES), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["length"] == MAX_BODY_BYTES - len(b'{"text": ""}')


def test_a_declared_length_over_the_limit_is_refused_unread(client: TestClient) -> None:
    answer = client.post(
        "/echo",
        content=b'{"text": "' + b"x" * MAX_BODY_BYTES + b'"}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413 and answer.json()["code"] == "body_too_large"


def test_a_body_that_is_not_utf8_is_malformed_json(client: TestClient) -> None:
    answer = client.post(
        "/echo", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["code"] == "malformed_json"
    good = client.post(
        "/echo", content='{"text": "페트병"}'.encode(), headers={"content-type": "application/json"}
    )
    assert good.status_code == 200 and good.json() == {"length": 3}


def test_invented_methods_share_one_label(client: TestClient) -> None:
    for method in ("BREW", "PROPFIND", "X-" + "A" * 40):
        client.request(method, "/echo")
    labels = {
        sample.labels["method"]
        for metric in REGISTRY.collect()
        if metric.name == "wastecoach_http_requests"
        for sample in metric.samples
        if sample.labels.get("service") == "hostile"
    }
    assert "other" in labels
    assert labels <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


def test_an_unexpected_error_says_nothing_of_itself(client: TestClient) -> None:
    answer = client.get("/boom")
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert "hunter2" not in answer.text and "RuntimeError" not in answer.text


def test_readiness_names_the_check_but_not_its_error(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"db": "unavailable"}
    assert "hunter2" not in answer.text and "ConnectionError" not in answer.text
