"""The mock OpenAI through respx, for unit tests of code that uses the SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
import respx
from fastapi.testclient import TestClient

from harness.mocks import catalog
from harness.mocks.openai_config import MockOpenAIConfig
from harness.mocks.openai_mock import MockOpenAI
from harness.mocks.openai_respx import mock_openai, mocked_openai
from harness.mocks.openai_server import create_app
from harness.stack.processes import free_port
from tests.harness.mocks.helpers import vision_body, vision_messages

# Nothing listens there: a request that escaped respx would fail to connect, not go anywhere.
BASE_URL = f"http://127.0.0.1:{free_port()}/v1"


def sdk(**options: float) -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE_URL, api_key="x", http_client=httpx.Client(), **options)


def analyze(client: openai.OpenAI, image: bytes) -> str:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=vision_messages(image),  # type: ignore[arg-type]
        response_format={"type": "json_object"},
    )
    return completion.choices[0].message.content or ""


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


def test_the_sdk_gets_the_answer_through_respx(router: respx.MockRouter) -> None:
    mock = mock_openai(router, BASE_URL)
    item = catalog.get("jeans")
    with sdk() as client:
        answer = json.loads(analyze(client, catalog.render(item, seed=2, variant="cropped")))
    assert answer["item"] == item.name_ko
    assert answer["disposal_steps"] == list(item.steps)
    stats = mock.stats()
    assert stats["outcomes"]["ok"] == 1
    # Latency is recorded (the seed's 2-5 s) but was not slept.
    assert 2.0 <= stats["latencies"][0] <= 5.0


def test_respx_and_the_server_give_the_same_content() -> None:
    photo = catalog.render(catalog.get("foam_fruit_box"), seed=4, variant="resized")
    fast = MockOpenAIConfig(time_scale=0)
    with mocked_openai(BASE_URL, fast), sdk() as client:
        through_respx = json.loads(analyze(client, photo))
    with TestClient(create_app(fast)) as served:
        response = served.post("/v1/chat/completions", json=vision_body(photo))
    through_server = json.loads(response.json()["choices"][0]["message"]["content"])
    assert through_respx == through_server


def test_rate_limits_reach_the_sdk_as_rate_limit_errors() -> None:
    config = MockOpenAIConfig(rate_limit_rate=1.0)
    with mocked_openai(BASE_URL, config) as mock, sdk(max_retries=0) as client:
        with pytest.raises(openai.RateLimitError):
            analyze(client, catalog.render(catalog.ITEMS[0]))
        assert mock.stats()["outcomes"]["rate_limited"] == 1


def test_server_errors_reach_the_sdk() -> None:
    config = MockOpenAIConfig(error_rate=1.0)
    with (
        mocked_openai(BASE_URL, config),
        sdk(max_retries=0) as client,
        pytest.raises(openai.InternalServerError),
    ):
        analyze(client, catalog.render(catalog.ITEMS[0]))


def test_held_requests_become_timeouts_at_once() -> None:
    config = MockOpenAIConfig(timeout_rate=1.0, hang_seconds=60)
    with mocked_openai(BASE_URL, config) as mock, sdk(max_retries=1) as client:
        with pytest.raises(openai.APITimeoutError):
            analyze(client, catalog.render(catalog.ITEMS[0]))
        # The SDK retried a timeout once, as it does against the real API.
        assert mock.stats()["outcomes"]["timeout"] == 2


def test_invalid_json_reaches_the_caller() -> None:
    with mocked_openai(BASE_URL, MockOpenAIConfig(invalid_json_rate=1.0)), sdk() as client:
        content = analyze(client, catalog.render(catalog.ITEMS[0]))
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_respx_follows_the_seeded_sequence_of_the_core_mock() -> None:
    config = MockOpenAIConfig(error_rate=0.3, rate_limit_rate=0.3, seed=21)
    body = json.dumps(vision_body(catalog.render(catalog.ITEMS[5], size=(64, 48)))).encode()
    reference = MockOpenAI(config)
    expected = [reference.reply(body).status for _ in range(12)]
    with mocked_openai(BASE_URL, config), httpx.Client() as http:
        seen = [
            http.post(f"{BASE_URL}/chat/completions", content=body).status_code for _ in range(12)
        ]
    assert seen == expected
    assert len(set(expected)) > 1


def test_the_sdk_default_transport_bypasses_respx(router: respx.MockRouter) -> None:
    mock = mock_openai(router, BASE_URL)
    # No http_client: the SDK's own transport, which respx does not patch.
    with (
        openai.OpenAI(base_url=BASE_URL, api_key="x", max_retries=0) as client,
        pytest.raises(openai.APIConnectionError),
    ):
        analyze(client, catalog.render(catalog.ITEMS[0]))
    assert mock.stats()["calls"] == 0
