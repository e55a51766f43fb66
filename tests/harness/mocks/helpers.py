"""Helpers for the tests of the fakes: chat requests as the AI worker sends them, photos."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from harness.mocks.openai_answers import CLASSIFY_MARKER

ANALYZE_PROMPT = "You are a Korean waste-sorting coach. Answer with a JSON object."
CLASSIFY_PROMPT = f"{CLASSIFY_MARKER}: name the item and its category only, as a JSON object."


def data_url(image: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(image).decode()


def vision_messages(image: bytes, *, classify_only: bool = False) -> list[dict[str, Any]]:
    """The messages the AI worker sends for ``image.analyze`` or ``image.classify``."""
    return [
        {"role": "system", "content": CLASSIFY_PROMPT if classify_only else ANALYZE_PROMPT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "이 물건은 어떻게 버리나요?"},
                {"type": "image_url", "image_url": {"url": data_url(image)}},
            ],
        },
    ]


def vision_body(image: bytes, *, classify_only: bool = False) -> dict[str, Any]:
    """A whole chat completions request body, as the SDK would post it."""
    return {
        "model": "gpt-4o-mini" if classify_only else "gpt-4o",
        "messages": vision_messages(image, classify_only=classify_only),
        "response_format": {"type": "json_object"},
    }


def solid_jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    """A plain photo of one colour: not a catalog item when the colour is off the grid."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG", quality=95)
    return out.getvalue()
