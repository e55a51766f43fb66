"""waste-service routes: ``/api/v1/waste`` (the seed's image-analysis flow, steps 1-7)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import redis
from fastapi import APIRouter, Depends, Request, Response, status
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from reference.common import limits
from reference.common.cache import Keys, get_async_redis
from reference.common.db import session_scope
from reference.common.deps import SettingsDep
from reference.common.errors import error_responses
from reference.common.lean import LeanRoute
from reference.common.openapi import NEEDS_CALLER
from reference.common.params import JobIdPath
from reference.common.security import CurrentUserId
from reference.common.settings import Settings
from reference.waste import polling, service
from reference.waste.job_events import job_events as job_subscription
from reference.waste.schemas import (
    AnalyzeRequest,
    AnalyzeResponse,
    JobLinks,
    JobState,
    ResultOut,
    UploadCompleteOut,
)
from reference.workers.publisher import publisher_for

PREFIX = "/api/v1/waste"
router = APIRouter(prefix=PREFIX, tags=["waste"])

# How long the event stream follows one job at most (beyond q.ai's 300 s message TTL).
STREAM_MAX_SECONDS = 330.0


# The hot path first: the router tries routes in order, and the app's polls are most of the
# traffic (the gateway includes this router first too). Both are lean routes as well
# (LEAN_ROUTES): the gateway answers them ahead of the router, with the same handlers.
@router.get(
    "/status/{job_id}",
    response_model=JobState,
    operation_id="jobStatus",
    responses=error_responses(401, 404, 422),
    summary="Progress of a job (stage and percent); the app polls this every 0.5 s",
    openapi_extra=NEEDS_CALLER,
)
async def job_status(job_id: JobIdPath, request: Request) -> Response:
    return await polling.status(request, job_id)


@router.get(
    "/result/{job_id}",
    response_model=ResultOut,
    operation_id="jobResult",
    responses={202: {"model": ResultOut, "description": "still processing"}}
    | error_responses(401, 404, 422),
    summary="The answer: 200 once the job is done or failed, 202 while it is not",
    openapi_extra=NEEDS_CALLER,
)
async def job_result(job_id: JobIdPath, request: Request) -> Response:
    return await polling.result(request, job_id)


LEAN_ROUTES = (
    LeanRoute(f"{PREFIX}/status/{{job_id}}", polling.status),
    LeanRoute(f"{PREFIX}/result/{{job_id}}", polling.result),
)


def get_publisher(settings: SettingsDep) -> service.PublishFn:
    return publisher_for(settings)


PublisherDep = Annotated[service.PublishFn, Depends(get_publisher)]


def _links(job_id: str) -> JobLinks:
    return JobLinks(
        upload_complete=f"{PREFIX}/upload-complete/{job_id}",
        status=f"{PREFIX}/status/{job_id}",
        result=f"{PREFIX}/result/{job_id}",
        events=f"{PREFIX}/events/{job_id}",
    )


def _job_link(operation_id: str, description: str) -> dict[str, object]:
    return {
        "operationId": operation_id,
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": description,
    }


# OpenAPI links: the job analyze created is what the other operations take.
JOB_LINKS = {
    "UploadComplete": _job_link("uploadComplete", "the photo is in S3: queue the job"),
    "JobStatus": _job_link("jobStatus", "the job's progress"),
    "JobResult": _job_link("jobResult", "the job's answer"),
}


@router.post(
    "/analyze",
    status_code=status.HTTP_201_CREATED,
    response_model=AnalyzeResponse,
    operation_id="analyze",
    responses={201: {"description": "the job and its upload", "links": JOB_LINKS}}
    | error_responses(401, 422, 429),
    summary="Start an analysis: a job id and a pre-signed S3 POST for the photo",
)
def analyze(body: AnalyzeRequest, user_id: CurrentUserId, settings: SettingsDep) -> AnalyzeResponse:
    limits.hit(settings, limits.SCANS, str(user_id), limit=settings.limit_scans_per_minute)
    with session_scope(settings.database_url) as session:
        job, target = service.create_job(session, settings, body.content_type, body.mode, user_id)
    return AnalyzeResponse(
        job_id=job.id, status=job.status, upload=target, links=_links(str(job.id))
    )


@router.post(
    "/upload-complete/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadCompleteOut,
    operation_id="uploadComplete",
    responses=error_responses(401, 404, 409, 413, 415, 422, 429, 503),
    summary="The photo is in S3: check it and queue the analysis (idempotent)",
)
def upload_complete(
    job_id: JobIdPath,
    user_id: CurrentUserId,
    settings: SettingsDep,
    publish: PublisherDep,
) -> UploadCompleteOut:
    parsed = service.parse_job_id(job_id)
    with session_scope(settings.database_url) as session:
        job = service.get_job(session, parsed, user_id)
        job, duplicate = service.complete_upload(session, settings, job, publish)
    return UploadCompleteOut(job_id=job.id, status=job.status, duplicate=duplicate)


def _state(settings: Settings, job_id: uuid.UUID) -> JobState | None:
    with session_scope(settings.database_url) as session:  # connects only on a Redis miss
        return service.current_state(session, settings, job_id)


def _result(settings: Settings, job_id: uuid.UUID) -> ResultOut | None:
    with session_scope(settings.database_url) as session:  # connects only on a Redis miss
        return service.current_result(session, settings, job_id)


async def _current_state(settings: Settings, job_id: uuid.UUID) -> JobState | None:
    """The job's state from Redis on the event loop; from PostgreSQL (on the thread pool) when
    Redis does not know the job or does not answer."""
    try:
        key = Keys(settings.redis_prefix).job(str(job_id))
        raw = await get_async_redis(settings.redis_url).hget(key, "state")
    except (redis.RedisError, OSError):
        raw = None
    if raw:
        return JobState.model_validate_json(raw)
    return await run_in_threadpool(_state, settings, job_id)


async def _follow(
    request: Request, settings: Settings, job_id: uuid.UUID, slot: limits.Slot
) -> AsyncIterator[dict[str, str]]:
    """The job's progress as it changes: read when the process's subscription says the job
    changed (reference.waste.job_events), from Redis, or from PostgreSQL when Redis has lost the
    job or does not answer, as status and result fall back; the stream's slot is given back
    however it ends."""
    last = None
    deadline = time.monotonic() + STREAM_MAX_SECONDS
    events = job_subscription(settings)
    try:
        with events.watching(str(job_id)) as changed:
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    return
                changed.clear()  # before reading: a change during the read wakes the wait
                state = await _current_state(settings, job_id)
                if state is not None and state.model_dump_json() != last:
                    last = state.model_dump_json()
                    yield {"event": "progress", "data": last}
                    if state.status.terminal:
                        result = await run_in_threadpool(_result, settings, job_id)
                        if result is not None:
                            yield {"event": "result", "data": result.model_dump_json()}
                        return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), events.wait_seconds())
            yield {"event": "timeout", "data": '{"code": "stream_timeout"}'}
    finally:
        await run_in_threadpool(limits.release, settings, slot)


@router.get(
    "/events/{job_id}",
    operation_id="jobEvents",
    responses={200: {"content": {"text/event-stream": {}}}} | error_responses(401, 404, 422, 429),
    summary="Server-sent events of the job's progress, ending with its result",
    description="The access token comes from the Authorization header or, for EventSource "
    "clients that cannot set headers, the `access_token` cookie.",
)
async def job_events(
    job_id: JobIdPath, request: Request, user_id: CurrentUserId, settings: SettingsDep
) -> EventSourceResponse:
    parsed = service.parse_job_id(job_id)
    await run_in_threadpool(_owned_or_404, settings, parsed, user_id)
    # The place is held until the stream ends (or expires with it, should this process die).
    slot = await run_in_threadpool(
        functools.partial(
            limits.acquire_stream,
            settings,
            str(user_id),
            limit=settings.limit_event_streams,
            hold_seconds=STREAM_MAX_SECONDS + 30,
        )
    )
    return EventSourceResponse(_follow(request, settings, parsed, slot), ping=15)


def _owned_or_404(settings: Settings, job_id: uuid.UUID, user_id: uuid.UUID) -> None:
    with session_scope(settings.database_url) as session:
        service.check_owner(session, settings, job_id, user_id)
