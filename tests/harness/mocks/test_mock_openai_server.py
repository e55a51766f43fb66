"""The mock OpenAI over HTTP, in process through FastAPI's TestClient."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.mocks import catalog
from harness.mocks.openai_config import (
    FixedLatency,
    LognormalLatency,
    MockOpenAIConfig,
    UniformLatency,
)
from harness.mocks.openai_mock import MockOpenAI
from harness.mocks.openai_server import create_app
from reference.waste.categories import Category
from tests.harness.mocks.helpers import data_url, solid_jpeg, vision_body

FAST = MockOpenAIConfig(latency=FixedLatency(seconds=0), classify_latency=FixedLatency(seconds=0))


def make_client(config: MockOpenAIConfig = FAST) -> TestClient:
    return TestClient(create_app(config))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


def chat(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v1/chat/completions", json=body)


def content_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return json.loads(response.json()["choices"][0]["message"]["content"])


def test_full_analysis_names_the_item_its_category_and_steps(client: TestClient) -> None:
    item = catalog.get("soju_bottle")
    response = chat(client, vision_body(catalog.render(item, seed=7)))
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"].startswith("gpt-4o")
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["prompt_tokens"] > 85  # the image alone costs at least 85 tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    answer = content_of(response)
    assert answer == {
        "item": item.name_ko,
        "item_en": item.name_en,
        "category": Category.GLASS.value,
        "confidence": answer["confidence"],
        "disposal_steps": list(item.steps),
    }
    assert 0.7 <= answer["confidence"] <= 1.0


def test_classify_only_answers_without_disposal_steps(client: TestClient) -> None:
    item = catalog.get("aa_battery")
    response = chat(client, vision_body(catalog.render(item), classify_only=True))
    answer = content_of(response)
    assert set(answer) == {"item", "item_en", "category", "confidence"}
    assert answer["category"] == Category.BATTERY.value
    assert response.json()["model"].startswith("gpt-4o-mini")


@pytest.mark.parametrize("variant", catalog.VARIANTS)
def test_near_duplicates_get_the_same_item(client: TestClient, variant: catalog.Variant) -> None:
    item = catalog.get("hair_dryer")
    answer = content_of(chat(client, vision_body(catalog.render(item, seed=3, variant=variant))))
    assert answer["item"] == item.name_ko


def test_the_same_photo_gets_the_same_answer_from_any_mock() -> None:
    photos = [catalog.render(catalog.get("tuna_can"), seed=1), solid_jpeg((60, 60, 60))]
    with make_client() as first, make_client(faulty(seed=99)) as second:
        for photo in photos:
            answers = [content_of(chat(c, vision_body(photo))) for c in (first, first, second)]
            assert answers[0] == answers[1] == answers[2]


def test_an_unknown_photo_gets_a_catalog_item_with_low_confidence(client: TestClient) -> None:
    answer = content_of(chat(client, vision_body(solid_jpeg((60, 60, 60)))))
    assert answer["item"] in {item.name_ko for item in catalog.ITEMS}
    assert Category(answer["category"])
    assert answer["confidence"] < 0.65


def _body_with(**changes: Any) -> dict[str, Any]:
    body = vision_body(catalog.render(catalog.ITEMS[0]))
    body.update(changes)
    return body


def _image_url(url: str) -> dict[str, Any]:
    body = vision_body(b"")
    body["messages"][1]["content"][1]["image_url"]["url"] = url
    return body


BAD_REQUESTS: dict[str, Any] = {
    "not json": b"{not json",
    "not an object": [1, 2],
    "no model": _body_with(model=None),
    "no messages": _body_with(messages=[]),
    "message without content": _body_with(messages=[{"role": "user"}]),
    "no image": _body_with(messages=[{"role": "user", "content": "hello"}]),
    "remote image url": _image_url("https://example.com/photo.jpg"),
    "bad base64": _image_url("data:image/jpeg;base64,@@@"),
    "not an image": _image_url(data_url(b"plain text, not a photo")),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_malformed_requests_get_an_openai_style_400(client: TestClient, case: str) -> None:
    body = BAD_REQUESTS[case]
    if isinstance(body, bytes):
        response = client.post("/v1/chat/completions", content=body)
    else:
        response = chat(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert client.get("/_mock/stats").json()["outcomes"]["bad_request"] == 1


def faulty(**fields: float) -> MockOpenAIConfig:
    """FAST with ``fields`` changed, validated (``model_copy`` would skip validation)."""
    return MockOpenAIConfig.model_validate(FAST.model_dump() | fields)


def test_rate_limit_rate_one_answers_429_with_retry_after() -> None:
    config = faulty(rate_limit_rate=1.0, retry_after_seconds=2.5)
    with make_client(config) as client:
        response = chat(client, vision_body(catalog.render(catalog.ITEMS[0])))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_error_rate_one_answers_500_and_503() -> None:
    with make_client(faulty(error_rate=1.0)) as client:
        photo = vision_body(catalog.render(catalog.ITEMS[0]))
        responses = [chat(client, photo) for _ in range(20)]
        stats = client.get("/_mock/stats").json()
    assert {r.status_code for r in responses} == {500, 503}
    assert all(r.json()["error"]["type"] == "server_error" for r in responses)
    assert stats["outcomes"]["server_error"] + stats["outcomes"]["unavailable"] == 20


def test_invalid_json_rate_one_answers_content_that_is_not_json() -> None:
    with make_client(faulty(invalid_json_rate=1.0)) as client:
        photo = vision_body(catalog.render(catalog.ITEMS[0]))
        for _ in range(10):
            response = chat(client, photo)
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.json()["choices"][0]["message"]["content"])


def test_timeout_rate_one_holds_the_request_for_hang_seconds() -> None:
    config = faulty(timeout_rate=1.0, hang_seconds=0.05, time_scale=0.0)
    with make_client(config) as client:
        response = chat(client, vision_body(catalog.render(catalog.ITEMS[0])))
        stats = client.get("/_mock/stats").json()
    # time_scale does not shorten a hang: it must outlast the client's real timeout.
    assert stats["latencies"] == [0.05]
    assert stats["outcomes"]["timeout"] == 1
    assert response.status_code == 200


def test_mixed_rates_give_outcome_shares_close_to_the_config() -> None:
    config = faulty(rate_limit_rate=0.1, error_rate=0.2, timeout_rate=0.1, invalid_json_rate=0.2)
    mock = MockOpenAI(config)
    body = json.dumps(vision_body(catalog.render(catalog.ITEMS[0], size=(64, 48)))).encode()
    calls = 1000
    for _ in range(calls):
        mock.reply(body)
    outcomes = mock.stats()["outcomes"]
    shares = {
        "rate_limited": 0.1,
        "timeout": 0.1,
        "invalid_json": 0.2,
        "ok": 0.4,
    }
    # Five standard deviations of a binomial share at n=1000 is at most 0.08.
    for outcome, share in shares.items():
        assert abs(outcomes[outcome] / calls - share) < 0.08, outcome
    assert abs((outcomes["server_error"] + outcomes["unavailable"]) / calls - 0.2) < 0.08


def test_the_seed_fixes_the_sequence_of_outcomes() -> None:
    config = faulty(rate_limit_rate=0.25, error_rate=0.25, invalid_json_rate=0.25, seed=5)
    body = json.dumps(vision_body(catalog.render(catalog.ITEMS[0], size=(64, 48)))).encode()

    def sequence(mock: MockOpenAI) -> list[str]:
        return [mock.reply(body).outcome for _ in range(30)]

    first = MockOpenAI(config)
    run = sequence(first)
    assert len(set(run)) > 2
    assert sequence(MockOpenAI(config)) == run
    first.reset()
    assert sequence(first) == run


def test_latency_is_sampled_scaled_and_recorded() -> None:
    config = MockOpenAIConfig(
        latency=UniformLatency(low=2.0, high=5.0),
        classify_latency=FixedLatency(seconds=1.0),
        time_scale=0.01,
    )
    with make_client(config) as client:
        photo = catalog.render(catalog.ITEMS[0])
        for _ in range(5):
            chat(client, vision_body(photo))
        chat(client, vision_body(photo, classify_only=True))
        stats = client.get("/_mock/stats").json()
    assert all(0.02 <= latency <= 0.05 for latency in stats["latencies"][:5])
    assert stats["latencies"][5] == pytest.approx(0.01)
    assert stats["latency_seconds"]["count"] == 6
    assert stats["models"] == {"gpt-4o": 5, "gpt-4o-mini": 1}
    assert stats["time_scale"] == 0.01


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(), median=st.floats(0.1, 10), sigma=st.floats(0, 2))
def test_latency_distributions_stay_in_their_bounds(seed: int, median: float, sigma: float) -> None:
    rng = random.Random(seed)
    assert 2.0 <= UniformLatency().sample(rng) <= 5.0
    assert 0 < LognormalLatency(median=median, sigma=sigma, cap=12.0).sample(rng) <= 12.0
    assert FixedLatency(seconds=median).sample(rng) == median


def test_config_rejects_rates_that_add_up_past_one() -> None:
    with pytest.raises(ValidationError, match="at most 1"):
        MockOpenAIConfig(error_rate=0.6, rate_limit_rate=0.5)


def test_admin_config_round_trips_and_replaces_the_config(client: TestClient) -> None:
    assert client.get("/_mock/config").json() == FAST.model_dump(mode="json")
    new = {"latency": {"kind": "lognormal", "median": 2.5}, "error_rate": 0.1, "seed": 3}
    response = client.put("/_mock/config", json=new)
    assert response.status_code == 200
    current = client.get("/_mock/config").json()
    assert current["latency"] == {"kind": "lognormal", "median": 2.5, "sigma": 0.35, "cap": 30.0}
    assert current["error_rate"] == 0.1
    # PUT replaces: what the body leaves out is back to its default.
    assert current["classify_latency"] == {"kind": "uniform", "low": 1.0, "high": 3.0}


INVALID_CONFIGS: dict[str, bytes] = {
    "not json": b"{",
    "unknown field": b'{"eror_rate": 0.5}',
    "rate above one": b'{"error_rate": 1.5}',
    "rates add up past one": b'{"error_rate": 0.7, "timeout_rate": 0.7}',
    "unknown latency kind": b'{"latency": {"kind": "gamma"}}',
    "low above high": b'{"latency": {"kind": "uniform", "low": 5, "high": 2}}',
    "negative time scale": b'{"time_scale": -1}',
}


@pytest.mark.parametrize("case", INVALID_CONFIGS)
def test_admin_config_rejects_bad_input_with_422_and_a_code(client: TestClient, case: str) -> None:
    response = client.put("/_mock/config", content=INVALID_CONFIGS[case])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_config"
    assert body["errors"]
    # The old config stays in force.
    assert client.get("/_mock/config").json() == FAST.model_dump(mode="json")


def test_stats_count_calls_and_reset_zeroes_them(client: TestClient) -> None:
    photo = vision_body(catalog.render(catalog.ITEMS[0]))
    for _ in range(3):
        chat(client, photo)
    stats = client.get("/_mock/stats").json()
    assert stats["calls"] == 3
    assert stats["outcomes"]["ok"] == 3
    assert stats["in_flight"] == 0
    after = client.post("/_mock/reset").json()
    assert after["calls"] == 0
    assert after["latencies"] == []
    assert client.get("/_mock/stats").json()["outcomes"]["ok"] == 0


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
