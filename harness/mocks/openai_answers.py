"""What the mock OpenAI reads from a chat completions request and what it writes back.

Pure functions, no state: :func:`parse_request` takes the request apart as the real API would
(400 ``invalid_request_error`` on anything malformed), :func:`answer_for_image` is the model's
answer for a photo, and the rest build the response bodies in OpenAI's wire format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image

from harness.mocks import catalog

# The AI worker puts this word in the system prompt of the lighter image.classify task.
CLASSIFY_MARKER = "CLASSIFY_ONLY"
# Public model names resolve to dated snapshots in real answers; the SDK does not care.
_SNAPSHOTS = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}


class BadRequest(Exception):
    """A request the real API would refuse with 400 ``invalid_request_error``."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code

    def body(self) -> dict[str, Any]:
        """The error as the API's JSON body."""
        return error_body(self.message, "invalid_request_error", param=self.param, code=self.code)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the mock needs from a chat completions request."""

    model: str
    classify_only: bool
    image: bytes
    detail: str
    text_chars: int


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []


def _image_part(content: Any) -> dict[str, Any] | None:
    if not isinstance(content, list):
        return None
    parts = (p for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return next(parts, None)


def parse_request(body: bytes) -> ChatRequest:
    """Validate a chat completions body; take out the model, the mode and the first image."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    model, messages = data.get("model"), data.get("messages")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", param="model")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    system_text: list[str] = []
    text_chars, image_part = 0, None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise BadRequest(f"messages[{index}] needs 'role' and 'content'", param="messages")
        texts = _texts(message["content"])
        text_chars += sum(map(len, texts))
        if message["role"] in ("system", "developer"):
            system_text.extend(texts)
        elif message["role"] == "user" and image_part is None:
            image_part = _image_part(message["content"])
    if image_part is None:
        raise BadRequest(
            "This mock answers vision requests only: no image_url part in a user message.",
            param="messages",
            code="missing_image",
        )
    spec = image_part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    detail = str(spec.get("detail", "auto")) if isinstance(spec, dict) else "auto"
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        # The mock never fetches an image URL: that would be traffic beyond 127.0.0.1.
        raise BadRequest(
            "The mock accepts base64 data: image URLs only.",
            param="messages",
            code="invalid_image_url",
        )
    try:
        image = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "Invalid base64 image data.", param="messages", code="invalid_image_url"
        ) from None
    classify_only = any(CLASSIFY_MARKER in text for text in system_text)
    return ChatRequest(model, classify_only, image, detail, text_chars)


def answer_for_image(image_bytes: bytes, classify_only: bool) -> dict[str, Any]:
    """The model's answer for this photo, as the JSON object the AI worker parses.

    A catalog photo gets its item. Any other photo gets an item picked from a hash of its
    dominant colour (quantised, so a mildly re-encoded copy keeps the answer) with a lower
    confidence. ``classify_only`` leaves out ``disposal_steps``. Raises ``ValueError`` if the
    bytes are not an image.
    """
    colour = catalog.dominant_colour(image_bytes)
    item, distance = catalog.nearest(colour)
    if distance <= catalog.MATCH_DISTANCE:
        confidence = round(0.97 - 0.25 * distance / catalog.MATCH_DISTANCE, 2)
    else:
        digest = hashlib.sha256(bytes(c // 16 for c in colour)).digest()
        item = catalog.ITEMS[int.from_bytes(digest[:4], "big") % len(catalog.ITEMS)]
        confidence = round(0.35 + 0.25 * digest[4] / 255, 2)
    answer: dict[str, Any] = {
        "item": item.name_ko,
        "item_en": item.name_en,
        "category": item.category.value,
        "confidence": confidence,
    }
    if not classify_only:
        answer["disposal_steps"] = list(item.steps)
    return answer


def image_tokens(image: bytes, detail: str) -> int:
    """Prompt tokens of an image by GPT-4o's published rule: 85 plus 170 per 512-pixel tile."""
    if detail == "low":
        return 85
    with Image.open(io.BytesIO(image)) as img:
        width, height = img.size
    # Fit within 2048x2048, then bring the shorter side down to 768 (never up).
    fit = min(1.0, 2048 / max(width, height))
    scale = fit * min(1.0, 768 / (min(width, height) * fit))
    return 85 + 170 * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def completion(
    model: str, content: str, prompt_tokens: int, finish_reason: str = "stop"
) -> dict[str, Any]:
    """A ``chat.completion`` object carrying ``content`` as the assistant's message."""
    completion_tokens = max(1, len(content) // 2)
    message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:29]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _SNAPSHOTS.get(model, model),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock0000",
    }


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An error in the API's JSON shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def rate_limit_body(model: str, retry_after: float) -> dict[str, Any]:
    """The body of a 429, worded like the real one."""
    message = (
        f"Rate limit reached for {model} in organization org-mock on requests per min (RPM): "
        f"Limit 500, Used 500, Requested 1. Please try again in {retry_after:g}s."
    )
    return error_body(message, "requests", code="rate_limit_exceeded")


def not_json(answer: dict[str, Any], pick: float) -> tuple[str, str]:
    """Content that breaks ``json.loads`` as real models do, and its finish reason.

    ``pick`` in [0, 1) chooses: prose without JSON, JSON in a Markdown fence, or JSON cut off
    at the token limit (finish reason ``length``).
    """
    text = json.dumps(answer, ensure_ascii=False)
    if pick < 1 / 3:
        return (
            f"물론입니다! 사진 속 물건은 {answer['item']}입니다. 분리배출 방법을 알려 드릴게요.",
            "stop",
        )
    if pick < 2 / 3:
        return f"```json\n{text}\n```", "stop"
    return text[: len(text) // 2], "length"
