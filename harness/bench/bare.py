"""The yardstick of the status benchmark: a bare FastAPI app answering one Redis GET, served the
way the gateway is (``python -m reference.common.serving harness.bench.bare:app``). Its Redis
URL and key come from ``WASTECOACH_BENCH_REDIS_URL`` and ``WASTECOACH_BENCH_KEY``."""

from __future__ import annotations

import os

import redis.asyncio
from fastapi import FastAPI, Response

app = FastAPI()
_client = redis.asyncio.Redis.from_url(os.environ.get("WASTECOACH_BENCH_REDIS_URL", "redis://"))
_key = os.environ.get("WASTECOACH_BENCH_KEY", "")


@app.get("/status/{job_id}")
async def status(job_id: str) -> Response:
    return Response(await _client.get(_key), media_type="application/json")
