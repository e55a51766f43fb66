"""Prometheus metrics shared by services and workers (one registry per process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "wastecoach_http_requests_total",
    "HTTP requests answered, by service, route template, method and status code.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "wastecoach_http_request_seconds",
    "HTTP request latency, by service and route template.",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS = Counter(
    "wastecoach_tasks_total",
    "Celery tasks finished, by task name and outcome (success, retry, failure).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "wastecoach_task_seconds",
    "Celery task run time, by task name.",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120),
)
CACHE_LOOKUPS = Counter(
    "wastecoach_cache_lookups_total",
    "Cache lookups by mode, result (hit, miss) and how a hit matched (exact digest, near "
    "perceptual hash; none for a miss).",
    ["mode", "result", "match"],
)
MODEL_CALLS = Counter(
    "wastecoach_model_calls_total",
    "Calls to the vision model by outcome (ok, rate_limited, server_error, timeout, "
    "invalid_json, error).",
    ["model", "outcome"],
)
MODEL_SECONDS = Histogram(
    "wastecoach_model_call_seconds",
    "Vision model call latency.",
    ["model"],
    buckets=(0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30),
)
RATE_LIMITED = Counter(
    "wastecoach_rate_limited_total",
    "Requests refused with 429 by a rate limit or quota, by limit (scans_per_minute, "
    "model_calls_per_day, event_streams, logins_per_minute).",
    ["limit"],
)
QUEUE_DEPTH = Gauge(
    "wastecoach_queue_messages",
    "Messages ready in a RabbitMQ queue when last sampled.",
    ["queue"],
)


# The method label takes these and "other": a client inventing methods must not add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def _route_template(request: Request) -> str:
    # The router leaves the matched route in the scope; label by its template, never by the
    # raw path (job ids would make one series per job).
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def metrics_middleware(
    service: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware recording rate, latency and status by route template."""

    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            method = method_label(request.method)
            HTTP_REQUESTS.labels(service, route, method, str(status)).inc()
            HTTP_LATENCY.labels(service, route, method).observe(time.perf_counter() - started)

    return record
