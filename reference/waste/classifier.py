"""The vision model call: GPT-4o through the official ``openai`` SDK, answering JSON.

Retries (429, 5xx, time-outs, connection errors, an answer that is not the JSON asked for) use
exponential backoff with jitter; the SDK's own retries are off so each attempt is counted.
The client is synchronous: the AI worker runs in a gevent pool, where asyncio code fails.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
import openai
from pydantic import ValidationError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from reference.common.settings import Settings
from reference.common.telemetry import MODEL_CALLS, MODEL_SECONDS
from reference.waste.categories import DEFAULT_STEPS, Category
from reference.waste.models import Mode
from reference.waste.schemas import Classification

CATEGORY_LIST = ", ".join(c.value for c in Category)

ANALYZE_PROMPT = f"""You are a Korean recycling (분리배출) expert. Look at the photo and identify
the single main waste item. Answer with one JSON object and nothing else:
{{"item": "<item name in Korean>", "item_en": "<item name in English>",
 "category": "<one of: {CATEGORY_LIST}>", "confidence": <0..1>,
 "disposal_steps": ["<step in Korean>", ...]}}"""

CLASSIFY_PROMPT = f"""CLASSIFY_ONLY. You are a Korean recycling (분리배출) expert. Identify the main
waste item in the photo. Answer with one JSON object and nothing else:
{{"item": "<item name in Korean>", "item_en": "<item name in English>",
 "category": "<one of: {CATEGORY_LIST}>", "confidence": <0..1>}}"""


class ModelError(Exception):
    """A failed model call; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class RetryableModelError(ModelError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=True)


@dataclass(frozen=True)
class ModelAnswer:
    classification: Classification
    model: str
    raw: dict[str, Any]
    attempts: int


@lru_cache(maxsize=4)
def _client(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    http = httpx.Client(
        timeout=timeout, limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
    )
    return openai.OpenAI(
        base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0, http_client=http
    )


def client_for(settings: Settings) -> openai.OpenAI:
    return _client(
        settings.openai_base_url,
        settings.openai_api_key.get_secret_value(),
        settings.openai_timeout_seconds,
    )


def _image_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def parse_answer(content: str | None, mode: Mode) -> tuple[Classification, dict[str, Any]]:
    """Validate the model's JSON; raise a retryable ``invalid_model_answer`` otherwise."""
    try:
        raw = json.loads(content or "")
        if not isinstance(raw, dict):
            raise ValueError("answer is not a JSON object")
        classification = Classification.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        raise RetryableModelError(
            "invalid_model_answer", f"model answer is not the JSON asked for: {exc}"[:500]
        ) from exc
    if mode == Mode.CLASSIFY or not classification.disposal_steps:
        classification.disposal_steps = list(DEFAULT_STEPS[classification.category])
    return classification, raw


def _call_once(
    client: openai.OpenAI, model: str, mode: Mode, data: bytes, content_type: str
) -> tuple[Classification, dict[str, Any]]:
    prompt = CLASSIFY_PROMPT if mode == Mode.CLASSIFY else ANALYZE_PROMPT
    started = time.perf_counter()
    outcome = "error"
    try:
        completion = client.chat.completions.create(
            model=model,
            response_format={"type": "json_object"},
            messages=[
                {"role": "system", "content": prompt},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this and how do I dispose of it?"},
                        {"type": "image_url", "image_url": {"url": _image_url(data, content_type)}},
                    ],
                },
            ],
        )
        outcome = "invalid_json"
        answer = parse_answer(completion.choices[0].message.content, mode)
        outcome = "ok"
        return answer
    except openai.RateLimitError as exc:
        outcome = "rate_limited"
        raise RetryableModelError("model_rate_limited", f"model rate limited (429): {exc}") from exc
    except openai.APITimeoutError as exc:
        outcome = "timeout"
        raise RetryableModelError("model_timeout", "model call timed out") from exc
    except openai.APIConnectionError as exc:
        outcome = "connection_error"
        raise RetryableModelError("model_unreachable", f"model unreachable: {exc}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code >= 500:
            outcome = "server_error"
            raise RetryableModelError(
                "model_unavailable", f"model server error {exc.status_code}"
            ) from exc
        outcome = "rejected"
        raise ModelError(
            "model_rejected", f"model refused the request ({exc.status_code})", retryable=False
        ) from exc
    finally:
        MODEL_CALLS.labels(model, outcome).inc()
        MODEL_SECONDS.labels(model).observe(time.perf_counter() - started)


def classify(settings: Settings, mode: Mode, data: bytes, content_type: str) -> ModelAnswer:
    """Ask the model about one photo, retrying what may succeed on another attempt."""
    model = settings.openai_classify_model if mode == Mode.CLASSIFY else settings.openai_model
    client = client_for(settings)
    retrying = Retrying(
        stop=stop_after_attempt(settings.openai_attempts),
        wait=wait_exponential_jitter(
            multiplier=settings.openai_backoff_initial_seconds,
            max=settings.openai_backoff_max_seconds,
        ),
        retry=retry_if_exception_type(RetryableModelError),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            classification, raw = _call_once(client, model, mode, data, content_type)
            return ModelAnswer(classification, model, raw, attempt.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity reraises the last error")
