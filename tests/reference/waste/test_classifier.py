"""The model call through the real ``openai`` SDK, answered by the mock through respx."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from harness.mocks import catalog
from harness.mocks.openai_config import MockOpenAIConfig
from harness.mocks.openai_respx import mock_openai, mocked_openai
from reference.common.settings import Settings
from reference.waste import classifier
from reference.waste.categories import DEFAULT_STEPS, Category
from reference.waste.models import Mode

BASE = "http://127.0.0.1:9/v1"  # nothing listens there: only respx answers


@pytest.fixture
def settings() -> Settings:
    return Settings(
        openai_base_url=BASE,
        openai_attempts=3,
        openai_backoff_initial_seconds=0.001,
        openai_backoff_max_seconds=0.002,
    )


def photo(key: str = "beer_bottle") -> bytes:
    return catalog.render(catalog.get(key), seed=3)


def test_answers_the_item_in_the_photo(settings: Settings) -> None:
    with mocked_openai(BASE) as mock:
        answer = classifier.classify(settings, Mode.ANALYZE, photo("beer_bottle"), "image/jpeg")
    assert answer.classification.category == Category.GLASS
    assert answer.classification.disposal_steps
    assert answer.model == "gpt-4o" and answer.attempts == 1
    assert mock.stats()["outcomes"]["ok"] == 1


def test_classify_mode_uses_the_lighter_model_and_standard_steps(settings: Settings) -> None:
    with mocked_openai(BASE) as mock:
        answer = classifier.classify(settings, Mode.CLASSIFY, photo("aa_battery"), "image/jpeg")
    assert answer.model == "gpt-4o-mini"
    assert answer.classification.category == Category.BATTERY
    assert answer.classification.disposal_steps == list(DEFAULT_STEPS[Category.BATTERY])
    assert mock.stats()["models"] == {"gpt-4o-mini": 1}


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("rate_limit_rate", "model_rate_limited"),
        ("error_rate", "model_unavailable"),
        ("invalid_json_rate", "invalid_model_answer"),
        ("timeout_rate", "model_timeout"),
    ],
)
def test_faults_are_retried_then_fail_with_their_code(
    settings: Settings, fault: str, code: str
) -> None:
    with (
        mocked_openai(BASE, MockOpenAIConfig(**{fault: 1.0})) as mock,
        pytest.raises(classifier.ModelError) as raised,
    ):
        classifier.classify(settings, Mode.ANALYZE, photo(), "image/jpeg")
    assert raised.value.code == code
    assert mock.stats()["calls"] == settings.openai_attempts


def test_a_passing_fault_is_retried_to_success(settings: Settings) -> None:
    with respx.mock() as router:
        mock = mock_openai(router, BASE)
        route = router.routes[-1]
        delegate = route.side_effect
        replies = iter([httpx.Response(503, json={"error": {"message": "busy"}})])
        route.side_effect = lambda request: next(replies, None) or delegate(request)
        answer = classifier.classify(settings, Mode.ANALYZE, photo(), "image/jpeg")
    assert answer.attempts == 2
    assert mock.stats()["calls"] == 1  # the first call never reached the mock


def test_a_refused_request_is_not_retried(settings: Settings) -> None:
    with respx.mock() as router:
        route = router.post(f"{BASE}/chat/completions").mock(
            return_value=httpx.Response(400, json={"error": {"message": "bad image"}})
        )
        with pytest.raises(classifier.ModelError) as raised:
            classifier.classify(settings, Mode.ANALYZE, photo(), "image/jpeg")
    assert raised.value.code == "model_rejected" and not raised.value.retryable
    assert route.call_count == 1


def test_unknown_category_is_an_invalid_answer() -> None:
    content = json.dumps({"item": "x", "category": "moon_rock", "disposal_steps": []})
    with pytest.raises(classifier.RetryableModelError, match="not the JSON asked for"):
        classifier.parse_answer(content, Mode.ANALYZE)


@given(st.text(max_size=200))
def test_parse_answer_accepts_only_valid_classifications(text: str) -> None:
    try:
        classification, raw = classifier.parse_answer(text, Mode.ANALYZE)
    except classifier.RetryableModelError as exc:
        assert exc.code == "invalid_model_answer"
    else:
        assert classification.category in Category and isinstance(raw, dict)
