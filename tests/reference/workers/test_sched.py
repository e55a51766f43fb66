"""q.sched tasks through a real batch worker: cleanup.cache, backup.database, stats.aggregate,
jobs.reconcile (also sent by beat on its real schedule), jobs.expire_uploads;
and a failing scheduled task reaching q.dlq although q.sched has no dead-letter exchange."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select, text

from harness.stack.processes import ManagedProcess
from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.analytics import days
from reference.analytics.models import DailyStats, StatsTotals
from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.db import get_engine, session_scope
from reference.common.settings import Settings
from reference.waste.models import Job, JobStatus
from reference.waste.progress import ProgressStore
from reference.workers import backup
from reference.workers.app import create_celery
from reference.workers.dlq import DeadLetterQueue, matching
from tests.factories import LOG_DIR
from tests.reference.workers.helpers import (
    add_analysis,
    add_job,
    purge,
    seoul,
    wait_for_consumers,
)

pytestmark = pytest.mark.integration


def state(job_id: uuid.UUID | str, updated: datetime) -> str:
    return json.dumps(
        {
            "job_id": str(job_id),
            "status": "queued",
            "stage": "queued",
            "progress": 5,
            "updated_at": updated.isoformat(),
        }
    )


@pytest.mark.usefixtures("batch_worker")
def test_cleanup_cache_removes_orphans_and_stale_states_and_restores_ttls(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    redis = get_redis(batch_settings.redis_url)
    keys = Keys(batch_settings.redis_prefix)
    now = datetime.now(UTC)
    live = add_job(batch_settings, now, JobStatus.QUEUED)
    old = add_job(batch_settings, now - timedelta(days=3), JobStatus.DONE)
    kept_analysis = add_analysis(batch_settings, "metal")
    # A result key of the backend: produce one, then make it lose its TTL.
    sent = celery_app.send_task("analytics.daily", args=["2002-02-02"])
    sent.get(timeout=30)
    (result_key,) = redis.keys(f"{batch_settings.redis_prefix}celery:*{sent.id}")
    redis.persist(result_key)
    planted = {
        # job states
        "orphan": (keys.job(str(uuid.uuid4())), state(uuid.uuid4(), now - timedelta(hours=1))),
        "young_orphan": (keys.job(str(uuid.uuid4())), state(uuid.uuid4(), now)),
        "not_a_job": (keys.job("not-a-uuid"), state(uuid.uuid4(), now - timedelta(hours=1))),
        "stale": (keys.job(str(old)), state(old, now - timedelta(days=2))),
        "live_without_ttl": (keys.job(str(live)), state(live, now)),
    }
    for key, value in planted.values():
        redis.hset(key, "state", value)
    redis.expire(planted["stale"][0], 3600)
    orphan_cache = keys.classification("analyze", "a" * 64)
    kept_cache = keys.classification("analyze", "b" * 64)
    redis.set(orphan_cache, json.dumps({"analysis_id": str(uuid.uuid4())}), ex=3600)
    redis.set(kept_cache, json.dumps({"analysis_id": str(kept_analysis)}))  # no TTL
    revoked = keys.revoked("some-jti")
    redis.set(revoked, b"1")  # the auth service's: never touched
    outside = f"other-{uuid.uuid4().hex}:job:{uuid.uuid4()}"
    redis.set(outside, b"1", ex=60)

    try:
        counts = celery_app.send_task("cleanup.cache").get(timeout=30)
        assert counts["job_states_orphaned"] == 2  # the old orphan and the unparsable id
        assert counts["job_states_stale"] == 1
        assert counts["cache_entries_orphaned"] == 1
        # live and young job states (planted without one), the cache entry, the result key
        assert counts["ttl_restored"] == 4
        assert counts["deleted"] == 4
        for name in ("orphan", "not_a_job", "stale"):
            assert not redis.exists(planted[name][0]), name
        # It may be a job whose row is not committed yet: kept, but no longer forever.
        assert redis.ttl(planted["young_orphan"][0]) > 0
        assert 0 < redis.ttl(planted["live_without_ttl"][0]) <= batch_settings.job_state_ttl_seconds
        assert not redis.exists(orphan_cache)
        assert 0 < redis.ttl(kept_cache) <= batch_settings.cache_ttl_seconds
        assert 0 < redis.ttl(result_key) <= 3600
        assert redis.ttl(revoked) == -1 and redis.exists(outside)

        again = celery_app.send_task("cleanup.cache").get(timeout=30)
        assert again["deleted"] == 0 and again["ttl_restored"] == 0  # idempotent
    finally:
        redis.delete(revoked, outside, planted["young_orphan"][0])


@pytest.mark.usefixtures("batch_worker")
def test_jobs_reconcile_fails_jobs_whose_ai_message_expired_in_the_queue(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    job_id = add_job(batch_settings, datetime.now(UTC), JobStatus.QUEUED)
    celery_app.send_task(
        "image.analyze", args=[str(job_id)], task_id=str(job_id), priority=10, expiration=0.001
    )
    wait_for(lambda: dead_letters.depth() == 1, timeout=10, describe="the expired task in q.dlq")
    counts = celery_app.send_task("jobs.reconcile").get(timeout=30)
    assert (counts["failed"], counts["job_ids"]) == (1, [str(job_id)])
    with session_scope(batch_settings.database_url) as session:
        job = session.get(Job, job_id)
        assert job is not None and (job.status, job.error_code) == ("failed", "expired")
    assert dead_letters.depth() == 1  # the message stays for inspection


@pytest.mark.usefixtures("batch_worker")
def test_jobs_expire_uploads_fails_abandoned_analyses_and_deletes_their_objects(
    batch_settings: Settings, celery_app: Celery
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(seconds=batch_settings.upload_abandon_seconds + 60)
    abandoned = add_job(batch_settings, old, JobStatus.AWAITING_UPLOAD)
    young = add_job(batch_settings, now, JobStatus.AWAITING_UPLOAD)
    queued = add_job(batch_settings, old, JobStatus.QUEUED)
    client = storage.s3_client(batch_settings)
    keys = {job: f"uploads/{job}.jpeg" for job in (abandoned, young, queued)}
    with session_scope(batch_settings.database_url) as session:
        for job_id, key in keys.items():
            job = session.get(Job, job_id)
            assert job is not None
            job.object_key = key
    for key in keys.values():  # each uploaded, none confirmed by upload-complete
        client.put_object(Bucket=batch_settings.s3_bucket, Key=key, Body=b"photo")

    counts = celery_app.send_task("jobs.expire_uploads").get(timeout=30)
    assert (counts["expired"], counts["job_ids"]) == (1, [str(abandoned)])
    with session_scope(batch_settings.database_url) as session:
        found = {job_id: session.get(Job, job_id) for job_id in keys}
        assert {job_id: job.status for job_id, job in found.items() if job} == {
            abandoned: "failed",
            young: "awaiting_upload",
            queued: "queued",
        }
        assert found[abandoned].error_code == "upload_abandoned"  # type: ignore[union-attr]
        assert found[abandoned].finished_at is not None  # type: ignore[union-attr]
    store = ProgressStore(
        get_redis(batch_settings.redis_url), Keys(batch_settings.redis_prefix), 3600
    )
    result = store.result(abandoned)  # what status and result answer the app
    assert result is not None and result.error is not None
    assert (result.status, result.error.code) == ("failed", "upload_abandoned")
    left = {
        o["Key"]
        for o in client.list_objects_v2(Bucket=batch_settings.s3_bucket, Prefix="uploads/").get(
            "Contents", []
        )
    }
    assert keys[abandoned] not in left and {keys[young], keys[queued]} <= left

    again = celery_app.send_task("jobs.expire_uploads").get(timeout=30)
    assert again["expired"] == 0  # nothing left to expire: idempotent


def test_expiry_changes_nothing_while_s3_refuses_the_delete(batch_settings: Settings) -> None:
    """The objects go first: an S3 that fails leaves the job awaiting, for the next run."""
    from reference.waste import abandoned

    old = datetime.now(UTC) - timedelta(seconds=batch_settings.upload_abandon_seconds + 60)
    job_id = add_job(batch_settings, old, JobStatus.AWAITING_UPLOAD)
    broken = batch_settings.model_copy(update={"s3_bucket": f"no-such-bucket-{job_id.hex[:8]}"})
    with pytest.raises(Exception):  # noqa: B017 - botocore's NoSuchBucket
        abandoned.expire(broken)
    with session_scope(batch_settings.database_url) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "awaiting_upload"
    assert str(job_id) in abandoned.expire(batch_settings).job_ids


@pytest.mark.slow
@pytest.mark.usefixtures("batch_worker")
def test_beat_fails_an_expired_ai_jobs_job_within_a_minute(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue, tmp_path: Path
) -> None:
    """Beat on its real schedule (every minute) and the batch worker, as the stack runs them."""
    beat = ManagedProcess.python_module(
        f"beat-{uuid.uuid4().hex[:6]}",
        "reference.workers",
        ["beat", f"--schedule={tmp_path / 'beat-schedule'}", f"--pidfile={tmp_path / 'beat.pid'}"],
        # The batch worker serves metrics on the package's port.
        batch_settings.model_copy(update={"worker_metrics_port": 0}).to_env(),
        LOG_DIR,
    ).start()
    try:
        job_id = add_job(batch_settings, datetime.now(UTC), JobStatus.QUEUED)
        celery_app.send_task(
            "image.analyze", args=[str(job_id)], task_id=str(job_id), priority=10, expiration=0.001
        )
        wait_for(lambda: dead_letters.depth() == 1, timeout=10, describe="the task in q.dlq")
        expired = time.monotonic()

        def failed() -> bool:
            with session_scope(batch_settings.database_url) as session:
                job = session.get(Job, job_id)
                return job is not None and job.status == JobStatus.FAILED.value

        wait_for(failed, timeout=90, interval=0.5, describe="the job failed", abort=beat.death)
        took = time.monotonic() - expired
    finally:
        beat.stop()
    assert took <= 65, f"the job was failed {took:.0f} s after its message expired"


@pytest.mark.usefixtures("batch_worker")
def test_backup_database_streams_a_restorable_custom_dump_to_s3(
    batch_settings: Settings, celery_app: Celery
) -> None:
    answer = celery_app.send_task("backup.database").get(timeout=120)
    key = f"backups/{days.today().isoformat()}.dump"
    assert (answer["bucket"], answer["key"]) == (batch_settings.s3_backups_bucket, key)
    stored = storage.s3_client(batch_settings).get_object(Bucket=answer["bucket"], Key=key)
    data = stored["Body"].read()
    assert data[:5] == b"PGDMP"  # pg_dump's custom format
    assert len(data) == answer["size_bytes"] == stored["ContentLength"]
    assert hashlib.sha256(data).hexdigest() == answer["sha256"]
    with tempfile.NamedTemporaryFile(suffix=".dump") as dump:
        dump.write(data)
        dump.flush()
        listing = subprocess.run(
            ["pg_restore", "--list", dump.name], capture_output=True, text=True, check=True
        ).stdout
    for table in ("waste jobs", "waste analyses", "waste daily_stats", "public alembic_version"):
        assert f"TABLE DATA {table} " in listing, table


def test_backup_says_clearly_when_pg_dump_is_missing(batch_settings: Settings) -> None:
    broken = batch_settings.model_copy(update={"pg_dump_path": "/nonexistent/pg_dump"})
    with pytest.raises(backup.BackupError, match=r"pg_dump not found.*WASTECOACH_PG_DUMP_PATH"):
        backup.backup(broken)


def test_a_failing_pg_dump_leaves_no_object_behind(batch_settings: Settings) -> None:
    wrong = batch_settings.model_copy(
        update={"database_url": batch_settings.database_url.rsplit("/", 1)[0] + "/no_such_db"}
    )
    with pytest.raises(backup.BackupError, match=r"pg_dump exited with 1.*no_such_db"):
        backup.backup(wrong, date(1999, 1, 1))
    listed = storage.s3_client(batch_settings).list_objects_v2(
        Bucket=batch_settings.s3_backups_bucket, Prefix="backups/1999-01-01"
    )
    assert listed["KeyCount"] == 0


@pytest.mark.usefixtures("batch_worker")
def test_stats_aggregate_backfills_recent_days_and_rolls_up_totals(
    batch_settings: Settings, celery_app: Celery
) -> None:
    yesterday = days.yesterday()
    paper = add_analysis(batch_settings, "paper")
    add_job(batch_settings, seoul(yesterday, 8), analysis_id=paper, cache_hit=True)
    with session_scope(batch_settings.database_url) as session:
        session.query(DailyStats).filter(DailyStats.day == yesterday).delete()
    # Two computed days in a month of their own.
    month = [date(1990, 5, 3), date(1990, 5, 4)]
    for i, day in enumerate(month):
        for _ in range(i + 1):
            add_job(
                batch_settings,
                seoul(day),
                analysis_id=paper,
                cache_hit=False,
                processing_ms=200 * (i + 1),
            )
        add_job(batch_settings, seoul(day), JobStatus.FAILED, error_code="expired")
        celery_app.send_task("analytics.daily", args=[day.isoformat()]).get(timeout=30)

    answer = celery_app.send_task("stats.aggregate").get(timeout=60)
    assert yesterday.isoformat() in answer["backfilled"]
    assert {"all", "month:1990-05"} <= set(answer["scopes"])
    with session_scope(batch_settings.database_url) as session:
        may = session.get(StatsTotals, "month:1990-05")
        everything = session.get(StatsTotals, "all")
        sums = session.execute(
            select(
                func.count(), func.sum(DailyStats.jobs_total), func.sum(DailyStats.cache_hits)
            ).select_from(DailyStats)
        ).one()
    assert may is not None and everything is not None
    assert (may.days, may.jobs_total, may.jobs_done, may.jobs_failed) == (2, 5, 3, 2)
    assert may.by_category == {"paper": 3} and may.failures_by_code == {"expired": 2}
    assert (may.cache_hits, may.cache_misses, may.cache_hit_ratio) == (0, 3, 0.0)
    assert may.worst_daily_p95_ms == 400.0
    assert (everything.days, everything.jobs_total, everything.cache_hits) == tuple(sums)

    again = celery_app.send_task("stats.aggregate").get(timeout=60)
    assert again["backfilled"] == []  # every recent day has its row now
    with session_scope(batch_settings.database_url) as session:
        assert session.get(StatsTotals, "month:1990-05").jobs_total == 5  # type: ignore[union-attr]


@pytest.fixture
def misconfigured_worker(
    sandbox: Sandbox, moto_url: str
) -> Iterator[tuple[Settings, ManagedProcess]]:
    """A second batch worker, on the session sandbox's own vhost, whose pg_dump is missing."""
    settings = sandbox.settings(
        s3_endpoint_url=moto_url, pg_dump_path="/nonexistent/pg_dump", batch_max_retries=2
    )
    purge(settings)  # nothing left over by other tests on this vhost reaches the worker
    process = ManagedProcess.python_module(
        f"worker-batch-broken-{uuid.uuid4().hex[:6]}",
        "reference.workers",
        ["run", "batch"],
        settings.to_env(),
        LOG_DIR,
    ).start()
    try:
        wait_for_consumers(settings, process, ("q.batch", "q.sched"))
        yield settings, process
    finally:
        process.stop()


def test_a_failing_scheduled_task_reaches_the_dlq_and_requeues_to_q_sched(
    misconfigured_worker: tuple[Settings, ManagedProcess],
) -> None:
    settings, _ = misconfigured_worker
    queue = DeadLetterQueue(settings)
    queue.purge()
    app = create_celery(settings)
    try:
        sent = app.send_task("backup.database")
        (letter,) = wait_for(lambda: queue.list() or None, timeout=30, describe="q.dlq")
        assert (letter.id, letter.task) == (sent.id, "backup.database")
        assert (letter.queue, letter.routing_key, letter.reason, letter.count) == (
            "q.sched",
            "sched.database",
            "rejected",
            1,
        )
        assert letter.headers["retries"] == 0  # a missing binary is not retried
        assert letter.error is not None and "pg_dump not found" in letter.error
        with pytest.raises(Exception, match="pg_dump not found"):
            sent.get(timeout=5)

        # Requeued, it goes back to q.sched (where the same worker fails it again).
        queue.requeue(matching(task="backup.database"))
        (again,) = wait_for(
            lambda: [x for x in queue.list() if x.count == 2] or None,
            timeout=30,
            describe="the second death counted in x-death",
        )
        assert again.id == sent.id and again.queue == "q.sched"
    finally:
        app.close()


def test_a_backup_past_its_deadline_is_killed_and_leaves_nothing(batch_settings: Settings) -> None:
    hurried = batch_settings.model_copy(update={"backup_timeout_seconds": 1e-6})
    with pytest.raises(backup.BackupError, match="ran past WASTECOACH_BACKUP_TIMEOUT_SECONDS"):
        backup.backup(hurried, date(1999, 1, 2))
    client = storage.s3_client(batch_settings)
    bucket = batch_settings.s3_backups_bucket
    assert client.list_objects_v2(Bucket=bucket, Prefix="backups/1999-01-02")["KeyCount"] == 0


@pytest.mark.slow
def test_a_dump_larger_than_one_part_is_streamed_in_parts(batch_settings: Settings) -> None:
    """Over 8 MiB the upload is multipart, fed from pg_dump's pipe as it comes."""
    engine = get_engine(batch_settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE public.ballast (b bytea)"))
        for _ in range(12):  # incompressible: the dump is larger than the data
            conn.execute(text("INSERT INTO public.ballast VALUES (:b)"), {"b": os.urandom(2**20)})
    try:
        done = backup.backup(batch_settings, date(1999, 1, 3))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE public.ballast"))
    head = storage.s3_client(batch_settings).head_object(Bucket=done.bucket, Key=done.key)
    assert head["ContentLength"] == done.size_bytes > 12 * 2**20
    assert head["ETag"].strip('"').endswith(f"-{-(-done.size_bytes // backup.CHUNK)}")
