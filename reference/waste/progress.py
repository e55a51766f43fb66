"""Job progress in Redis: what the status endpoint, the event stream and the app read.

PostgreSQL holds the durable job; Redis holds the live view (stage, percent, and the final
answer once there is one) so polling every 0.5 s never touches the database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis

from reference.common.cache import Keys
from reference.waste.models import JobStatus
from reference.waste.schemas import ErrorInfo, JobState, ResultOut

# Stages a job goes through, with the progress percent each one reports.
STAGES: dict[str, int] = {
    "awaiting_upload": 0,
    "queued": 5,
    "downloading": 15,
    "cache_lookup": 30,
    "classifying": 50,
    "saving": 90,
    "done": 100,
    "failed": 100,
}


class ProgressStore:
    def __init__(self, client: redis.Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl = ttl_seconds

    def set_stage(
        self,
        job_id: uuid.UUID,
        status: JobStatus,
        stage: str,
        error: ErrorInfo | None = None,
    ) -> JobState:
        state = JobState(
            job_id=job_id,
            status=status,
            stage=stage,
            progress=STAGES[stage],
            updated_at=datetime.now(UTC),
            error=error,
        )
        key = self.keys.job(str(job_id))
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, "state", state.model_dump_json())
            pipe.expire(key, self.ttl)
            pipe.publish(self.keys.job_events(), str(job_id))  # wakes its event streams
            pipe.execute()
        return state

    def set_result(self, result: ResultOut) -> None:
        """Store the terminal answer and the terminal state together, atomically (the result
        route answers a stored answer as it is, 200: only a terminal one may be stored)."""
        if not result.status.terminal:
            raise ValueError(f"job {result.job_id} is {result.status.value}, not finished")
        stage = "done" if result.status == JobStatus.DONE else "failed"
        state = JobState(
            job_id=result.job_id,
            status=result.status,
            stage=stage,
            progress=100,
            updated_at=datetime.now(UTC),
            error=result.error,
        )
        key = self.keys.job(str(result.job_id))
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={"state": state.model_dump_json(), "result": result.model_dump_json()}
            )
            pipe.expire(key, self.ttl)
            pipe.publish(self.keys.job_events(), str(result.job_id))
            pipe.execute()

    def state(self, job_id: uuid.UUID) -> JobState | None:
        raw = self.client.hget(self.keys.job(str(job_id)), "state")
        return JobState.model_validate_json(raw) if raw else None

    def result(self, job_id: uuid.UUID) -> ResultOut | None:
        raw = self.client.hget(self.keys.job(str(job_id)), "result")
        return ResultOut.model_validate_json(raw) if raw else None
