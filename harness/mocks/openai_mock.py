"""The decisions of the mock OpenAI: which outcome a call gets, how long it is held, the stats.

:class:`MockOpenAI` is shared by the HTTP server (:mod:`harness.mocks.openai_server`, which sleeps
the delay asynchronously) and the respx fixture (:mod:`harness.mocks.openai_respx`, which does not
sleep), so both answer the same request the same way.

Each call draws from one seeded generator, always the same number of times, so a given seed
gives the same sequence of outcomes in the same order of calls.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.mocks.openai_answers import (
    BadRequest,
    ChatRequest,
    answer_for_image,
    completion,
    error_body,
    image_tokens,
    not_json,
    parse_request,
    rate_limit_body,
)
from harness.mocks.openai_config import MockOpenAIConfig
from harness.mocks.seeded import SeededFake

Outcome = Literal[
    "ok", "invalid_json", "server_error", "unavailable", "rate_limited", "timeout", "bad_request"
]
OUTCOMES: tuple[Outcome, ...] = (
    "ok",
    "invalid_json",
    "server_error",
    "unavailable",
    "rate_limited",
    "timeout",
    "bad_request",
)
# Bounded so a long load run does not grow the mock's memory without end.
_KEPT_LATENCIES = 10_000


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer, and how long to hold the request first (seconds, already scaled)."""

    outcome: Outcome
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class MockOpenAI(SeededFake[MockOpenAIConfig]):
    """Config, seeded random draws and stats of one mock. Thread-safe."""

    def __init__(self, config: MockOpenAIConfig | None = None) -> None:
        super().__init__(config or MockOpenAIConfig())

    def _zero(self) -> None:
        self._outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
        self._models: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=_KEPT_LATENCIES)

    def reply(self, body: bytes) -> Reply:
        """Decide the answer to one chat completions request body, and count it."""
        try:
            request = parse_request(body)
            answer = answer_for_image(request.image, request.classify_only)
        except BadRequest as exc:
            return self._record(Reply("bad_request", 400, exc.body()), None)
        except ValueError as exc:
            message = f"You uploaded an unsupported image. Please make sure it is valid. ({exc})"
            body_ = error_body(
                message, "invalid_request_error", param="messages", code="invalid_image_format"
            )
            return self._record(Reply("bad_request", 400, body_), None)
        with self._lock:
            config, rng = self._config, self._rng
            distribution = config.classify_latency if request.classify_only else config.latency
            draw, pick, latency = rng.random(), rng.random(), distribution.sample(rng)
        reply = _decide(config, request, answer, draw, pick, latency * config.time_scale)
        return self._record(reply, request.model)

    def _record(self, reply: Reply, model: str | None) -> Reply:
        with self._lock:
            self._outcomes[reply.outcome] += 1
            if model is not None:
                self._models[model] += 1
                self._latencies.append(reply.delay)
        return reply

    def stats(self) -> dict[str, Any]:
        """Calls by outcome and by model, the delays applied (seconds), concurrency."""
        with self._lock:
            latencies = list(self._latencies)
            ordered = sorted(latencies)
            summary: dict[str, Any] = {"count": len(ordered)}
            if ordered:
                summary |= {
                    "min": ordered[0],
                    "mean": sum(ordered) / len(ordered),
                    "p50": _percentile(ordered, 50),
                    "p95": _percentile(ordered, 95),
                    "max": ordered[-1],
                }
            return {
                "calls": sum(self._outcomes.values()),
                "outcomes": dict(self._outcomes),
                "models": dict(self._models),
                "latency_seconds": summary,
                # Oldest first; the newest _KEPT_LATENCIES only.
                "latencies": latencies,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "time_scale": self._config.time_scale,
            }


def _decide(
    config: MockOpenAIConfig,
    request: ChatRequest,
    answer: dict[str, Any],
    draw: float,
    pick: float,
    delay: float,
) -> Reply:
    """Map the draw onto consecutive bands: 429, 500/503, held, not JSON, then success."""
    headers = {
        "x-request-id": f"req_{uuid.uuid4().hex}",
        "openai-processing-ms": str(round(delay * 1000)),
    }
    prompt_tokens = request.text_chars // 4 + image_tokens(request.image, request.detail)
    rate_limited = config.rate_limit_rate
    failed = rate_limited + config.error_rate
    held = failed + config.timeout_rate
    garbled = held + config.invalid_json_rate
    if draw < rate_limited:
        wait = config.retry_after_seconds
        headers |= {
            "retry-after": str(math.ceil(wait)),
            "retry-after-ms": str(round(wait * 1000)),
            "x-ratelimit-remaining-requests": "0",
        }
        # Refused before any work, as the real API does: no latency.
        return Reply("rate_limited", 429, rate_limit_body(request.model, wait), headers)
    if draw < failed and pick < 0.5:
        message = "The server had an error while processing your request. Sorry about that!"
        return Reply("server_error", 500, error_body(message, "server_error"), headers, delay)
    if draw < failed:
        message = "The engine is currently overloaded, please try again later."
        return Reply("unavailable", 503, error_body(message, "server_error"), headers)
    content, finish = json.dumps(answer, ensure_ascii=False), "stop"
    if draw < held:
        # Held past any sane client timeout, then answered, in case the client is still there.
        body = completion(request.model, content, prompt_tokens)
        return Reply("timeout", 200, body, headers, config.hang_seconds)
    if draw < garbled:
        content, finish = not_json(answer, pick)
        body = completion(request.model, content, prompt_tokens, finish)
        return Reply("invalid_json", 200, body, headers, delay)
    return Reply("ok", 200, completion(request.model, content, prompt_tokens), headers, delay)


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]
