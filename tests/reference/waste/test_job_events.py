"""Event streams are woken by one pub/sub subscription per process: a progress write wakes the
streams of its job (and only those); while Redis does not answer, they poll."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.concurrency import run_in_threadpool

from reference.common.settings import Settings
from reference.waste.analysis import progress_store
from reference.waste.job_events import POLL_SECONDS, RECHECK_SECONDS, JobEvents, job_events
from reference.waste.models import JobStatus

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_progress_write_wakes_the_streams_of_its_job_only(settings: Settings) -> None:
    events = job_events(settings)
    mine, other = uuid.uuid4(), uuid.uuid4()
    with events.watching(str(mine)) as woken, events.watching(str(other)) as not_woken:
        await _until(lambda: events.subscribed)
        assert events.wait_seconds() == RECHECK_SECONDS
        store = progress_store(settings)
        await run_in_threadpool(store.set_stage, mine, JobStatus.QUEUED, "queued")
        await asyncio.wait_for(woken.wait(), timeout=10)
        assert not not_woken.is_set()
    assert events.waiters == {}  # a stream that ends stops being woken


async def test_without_redis_the_streams_poll_and_are_woken_to_do_so() -> None:
    events = JobEvents("redis://127.0.0.1:1/0", "nowhere")  # nothing listens on port 1
    with events.watching("a-job") as woken:
        await asyncio.wait_for(woken.wait(), timeout=30)  # the failed subscription wakes it
        assert not events.subscribed
        assert events.wait_seconds() == POLL_SECONDS
