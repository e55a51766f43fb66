"""locations-service tasks on ``q.api``: the Kakao Map keyword search (about 0.5 s)."""

from __future__ import annotations

import time
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Reject

from reference.common.settings import get_settings
from reference.common.telemetry import TASK_SECONDS, TASKS
from reference.locations import kakao


@shared_task(name="map.search", bind=True, ignore_result=False)
def map_search(
    self: Task, query: str, lat: float, lon: float, radius: int, size: int = kakao.MAX_SIZE
) -> dict[str, Any]:
    """Search Kakao Local for places matching a keyword near a position."""
    started = time.perf_counter()
    try:
        answer = kakao.keyword_search(get_settings(), query, lat, lon, radius, size)
    except kakao.MapSearchError as exc:
        TASKS.labels(self.name, "failure").inc()
        # The API process waits on the result backend: store the failure there first, then
        # reject without requeue so the message is dead-lettered to q.dlq (late acks would
        # otherwise acknowledge it and the failure would leave no trace in the queues).
        self.backend.mark_as_failure(self.request.id, exc, request=self.request)
        raise Reject(str(exc), requeue=False) from exc
    finally:
        TASK_SECONDS.labels(self.name).observe(time.perf_counter() - started)
    TASKS.labels(self.name, "success").inc()
    return answer.model_dump(mode="json")
