"""Prometheus metrics shared by services and workers (one registry per process)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
JOB_STAGE_SECONDS = Histogram(
    "wastecoach_job_stage_seconds",
    "Server-clock time of each stage of a finished job (queue_wait, download, cache_lookup, "
    "model, store), by stage and cache (hit, miss); the harness's stage_time.",
    ["stage", "cache"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20),
)
JOB_SECONDS = Histogram(
    "wastecoach_job_seconds",
    "Per finished job, server clock: processing (upload-complete accepted to the result "
    "stored; the harness's server_processing_time) and overhead (processing minus the "
    "model's time; stack_overhead), by cache (hit, miss).",
    ["measure", "cache"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20),
)
DB_QUERY_SECONDS = Histogram(
    "wastecoach_db_query_seconds",
    "PostgreSQL statement time as the process sees it (sent to rows back).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
DB_CONNECTIONS = Gauge(
    "wastecoach_db_connections",
    "PostgreSQL connections of the process's pool, by state (checked_out, pooled).",
    ["state"],
    multiprocess_mode="livesum",
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


def _route_template(scope: Scope) -> str:
    # The router leaves the matched route in the scope; label by its template, never by the
    # raw path (job ids would make one series per job).
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestMetrics:
    """ASGI middleware recording rate, latency (to the response's first byte) and status by
    route template. Plain ASGI: Starlette's BaseHTTPMiddleware costs a task group and a
    memory stream per request, a good part of a status poll."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # The series of each (route, method, status), looked up once: ``labels()`` takes a lock
        # and builds its key on every call, a fortieth of a status poll. As bounded as the
        # series themselves.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        key = (_route_template(scope), method_label(scope["method"]), status)
        series = self._series.get(key)
        if series is None:
            route, method, _ = key
            series = self._series[key] = (
                HTTP_REQUESTS.labels(self.service, route, method, str(status)),
                HTTP_LATENCY.labels(self.service, route, method),
            )
        series[0].inc()
        series[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            self._record(scope, status, time.perf_counter() - started)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not recorded:  # failed before answering: the server answers 500
                record(500)


def serve_metrics(
    port: int,
    *,
    addr: str = "0.0.0.0",
    registry: CollectorRegistry = REGISTRY,
    port_file: str | None = None,
) -> int:
    """Serve ``registry`` on ``port`` from a daemon thread; returns the port it got. With 0 the
    kernel picks a free one, and ``port_file`` receives it once the listener is bound: how the
    local stack learns its processes' ports (a port chosen in advance and bound seconds later,
    after the imports, can meanwhile be taken by another process)."""
    server, _ = start_http_server(port, addr=addr, registry=registry)
    bound = int(server.server_port)
    if port_file:
        path = Path(port_file)
        partial = path.with_name(f"{path.name}.partial")
        partial.write_text(str(bound))
        partial.replace(path)  # a reader never sees a half-written number
    return bound
