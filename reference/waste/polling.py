"""The hot path: ``status`` and ``result`` answered from Redis in one round trip.

The app polls a job's status every 0.5 s while it runs, so these two routes are most of the API's
traffic. Each answers on the event loop (no thread pool, no database session) with one Redis
round trip, a single Lua script (a pipeline of its five commands cost a sixth of the request
more): the token's deny-list check beside the job's owner and its stored answer, which goes out
as Redis holds it (the worker stored it as the response's JSON: nothing is parsed or serialised
again). PostgreSQL answers only when Redis cannot: it does not know the job (lost or evicted, an
anonymous job), its deny-list copy is incomplete, or it does not answer; that path is the one the
routes always had, on the thread pool with a session that ends before the route returns.

The checks are the ones every route makes: the token (signature, expiry, type, deny-list), then
the job id, then the owner (another user's job is a 404 like a missing one).

:func:`status` and :func:`result` answer the two routes whole. The FastAPI routes call them, and
so does the gateway's lean dispatch ahead of FastAPI's router (:mod:`reference.common.lean`),
which is how the polls reach them: one handler, whichever way a request comes.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Callable
from typing import TypeVar

import redis
import redis.asyncio
from fastapi import Request, Response
from redis.commands.core import AsyncScript
from starlette.concurrency import run_in_threadpool

from reference.common import revocation, security
from reference.common.cache import Keys, get_async_redis
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.waste import service
from reference.waste.schemas import JobState, ResultOut

log = logging.getLogger(__name__)

JSON = "application/json"

T = TypeVar("T")
Fallback = Callable[[Settings, uuid.UUID, uuid.UUID], T]


def request_settings(request: Request) -> Settings:
    """The settings, as the ``SettingsDep`` dependency gives them (tests override them), without
    the thread a sync dependency runs on."""
    return request.app.dependency_overrides.get(get_settings, get_settings)()


class Answer:
    """What Redis knows of a job for one caller: the verdict on the token and the job's owner
    and stored field (raw JSON), or that Redis could not tell."""

    def __init__(self, denied: bool | None, owner: bytes | None, raw: bytes | None) -> None:
        self.denied = denied
        self.owner = owner
        self.raw = raw


# The deny-list check, then the job's owner and stored field: one script, one round trip.
_ASK = (
    f"return {{{revocation.CHECK_LUA}, "
    "redis.call('hget', KEYS[4], ARGV[1]), redis.call('hget', KEYS[4], ARGV[2])}"
)
_scripts: weakref.WeakKeyDictionary[redis.asyncio.Redis, AsyncScript]
_scripts = weakref.WeakKeyDictionary()


def _ask_script(client: redis.asyncio.Redis) -> AsyncScript:
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.register_script(_ASK)
    return script


async def _ask_redis(
    settings: Settings, claims: security.TokenClaims, job_id: uuid.UUID, field: str
) -> Answer | None:
    keys = Keys(settings.redis_prefix)
    client = get_async_redis(settings.redis_url)
    try:
        replies = await _ask_script(client)(
            [*revocation.check_keys(keys, claims), keys.job(str(job_id))],
            [service.OWNER_FIELD, field],
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("Redis unavailable for the job's %s (%s); asking PostgreSQL", field, exc)
        return None
    owner, raw = replies[revocation.CHECK_REPLIES :]
    return Answer(revocation.judged(claims, replies[: revocation.CHECK_REPLIES]), owner, raw)


async def from_redis(
    request: Request,
    job_id: str,
    field: str,
    fallback: Callable[[Settings, uuid.UUID, uuid.UUID], T],
) -> bytes | T:
    """The job's ``field`` ("state" or "result") as Redis stores it, for the caller of
    ``request``; else what ``fallback(settings, job_id, user_id)`` answers from PostgreSQL on the
    thread pool. ApiError 401 (token), 422 (job id) or 404 (not the caller's job) otherwise."""
    settings = request_settings(request)
    claims = security.decode(settings, security.required_token(request), "access")
    parsed = service.parse_job_id(job_id)
    answer = await _ask_redis(settings, claims, parsed, field)
    denied = answer.denied if answer is not None else None
    if denied is None:  # Redis's copy of the deny-list is incomplete or Redis is down
        denied = await run_in_threadpool(revocation.denied, settings, claims)
    if denied:
        raise security.revoked_error()
    if answer is not None and answer.owner is not None:
        if answer.owner.decode() != str(claims.user_id):
            raise service.not_found(parsed)
        if answer.raw is not None:
            return answer.raw
    return await run_in_threadpool(fallback, settings, parsed, claims.user_id)


async def status(request: Request, job_id: str) -> Response:
    """``GET /status/{job_id}``: the job's progress."""
    answer = await from_redis(request, job_id, "state", state_from_database)
    if isinstance(answer, bytes):
        return Response(answer, media_type=JSON)
    return Response(answer.model_dump_json(), media_type=JSON)


async def result(request: Request, job_id: str) -> Response:
    """``GET /result/{job_id}``: the job's answer, 200 once it is done or failed, 202 before."""
    answer = await from_redis(request, job_id, "result", result_from_database)
    if isinstance(answer, bytes):  # Redis stores only terminal answers
        return Response(answer, media_type=JSON)
    code = 200 if answer.status.terminal else 202
    return Response(answer.model_dump_json(), status_code=code, media_type=JSON)


def state_from_database(settings: Settings, job_id: uuid.UUID, user_id: uuid.UUID) -> JobState:
    with session_scope(settings.database_url) as session:
        job = service.get_job(session, job_id, user_id)
        return service.job_state(session, settings, job)


def result_from_database(settings: Settings, job_id: uuid.UUID, user_id: uuid.UUID) -> ResultOut:
    with session_scope(settings.database_url) as session:
        job = service.get_job(session, job_id, user_id)
        return service.job_result(session, settings, job)
