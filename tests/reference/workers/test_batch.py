"""q.batch tasks through a real batch worker: analytics.daily and report.generate, their
retries, the dead-letter queue, and the load-simulation knob."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from datetime import date, timedelta

import httpx
import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from harness.stack.processes import ManagedProcess
from harness.stack.waits import wait_for
from reference.analytics import days
from reference.analytics.models import DailyStats
from reference.common import storage
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.models import JobStatus
from reference.workers.batch import extra_work
from reference.workers.dlq import DeadLetterQueue, matching
from tests.reference.workers.helpers import (
    add_analysis,
    add_job,
    create_bucket,
    delete_bucket,
    seoul,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("batch_worker")]


def a_day() -> date:
    """A day no other test uses (each test counts only its own jobs)."""
    return date(2001, 1, 1) + timedelta(days=random.randrange(7000))


def seed_day(settings: Settings, day: date) -> None:
    """Ten done jobs (7 hits, 100..1000 ms), two failures, one still queued, and one job on
    each neighbouring day just past the Korean midnight (which must not count)."""
    paper, glass = add_analysis(settings, "paper"), add_analysis(settings, "glass")
    for i in range(10):
        add_job(
            settings,
            seoul(day, hour=0, minute=i),
            analysis_id=paper if i < 6 else glass,
            cache_hit=i >= 3,
            processing_ms=100.0 * (i + 1),
        )
    add_job(settings, seoul(day, 9), JobStatus.FAILED, error_code="model_unavailable")
    add_job(settings, seoul(day, 23, 59), JobStatus.FAILED, error_code="image_missing")
    add_job(settings, seoul(day, 10), JobStatus.QUEUED)
    add_job(settings, seoul(day + timedelta(days=1), 0, 0), analysis_id=paper, cache_hit=True)
    add_job(settings, seoul(day, 0, 0) - timedelta(seconds=1), analysis_id=glass, cache_hit=False)


EXPECTED = {
    "jobs_total": 13,
    "jobs_done": 10,
    "jobs_failed": 2,
    "jobs_open": 1,
    "cache_hits": 7,
    "cache_misses": 3,
    "cache_hit_ratio": 0.7,
    "processing_p50_ms": 550.0,
    "processing_p95_ms": 955.0,
    "by_category": {"glass": 4, "paper": 6},
    "failures_by_code": {"image_missing": 1, "model_unavailable": 1},
}


def stored_day(settings: Settings, day: date) -> DailyStats | None:
    with session_scope(settings.database_url) as session:
        return session.get(DailyStats, day)


def test_analytics_daily_aggregates_a_korean_day_and_rerunning_replaces_it(
    batch_settings: Settings, celery_app: Celery
) -> None:
    day = a_day()
    seed_day(batch_settings, day)
    answer = celery_app.send_task("analytics.daily", args=[day.isoformat()]).get(timeout=30)
    assert {k: answer[k] for k in EXPECTED} == EXPECTED
    row = stored_day(batch_settings, day)
    assert row is not None
    assert {k: getattr(row, k) for k in EXPECTED} == EXPECTED
    first_computed = row.computed_at

    add_job(batch_settings, seoul(day, 15), JobStatus.FAILED, error_code="model_unavailable")
    celery_app.send_task("analytics.daily", args=[day.isoformat()]).get(timeout=30)
    with session_scope(batch_settings.database_url) as session:
        rows = session.scalars(select(DailyStats).where(DailyStats.day == day)).all()
    assert len(rows) == 1  # replaced, not added
    assert (rows[0].jobs_total, rows[0].failures_by_code["model_unavailable"]) == (14, 2)
    assert rows[0].computed_at > first_computed


def test_analytics_daily_defaults_to_yesterday_in_seoul(
    batch_settings: Settings, celery_app: Celery
) -> None:
    yesterday = days.yesterday()
    glass = add_analysis(batch_settings, "glass")
    job_id = add_job(batch_settings, seoul(yesterday, 23, 30), analysis_id=glass, cache_hit=False)
    answer = celery_app.send_task("analytics.daily").get(timeout=30)
    assert answer["first"] == yesterday.isoformat()
    row = stored_day(batch_settings, yesterday)
    assert row is not None and row.by_category.get("glass", 0) >= 1
    assert job_id is not None


def test_report_generate_writes_json_csv_and_html_and_returns_the_key(
    batch_settings: Settings, celery_app: Celery
) -> None:
    day = a_day()
    seed_day(batch_settings, day)
    first, last = day - timedelta(days=1), day
    answer = celery_app.send_task(
        "report.generate", args=[first.isoformat(), last.isoformat()]
    ).get(timeout=30)
    prefix = f"reports/{first.isoformat()}_{last.isoformat()}"
    assert answer["key"] == f"{prefix}/report.json"
    assert answer["keys"] == {k: f"{prefix}/report.{k}" for k in ("csv", "html", "json")}
    client = storage.s3_client(batch_settings)
    bucket = batch_settings.s3_reports_bucket

    def read(kind: str) -> tuple[bytes, str]:
        obj = client.get_object(Bucket=bucket, Key=answer["keys"][kind])
        return obj["Body"].read(), obj["ContentType"]

    raw, content_type = read("json")
    report = json.loads(raw)
    assert content_type == "application/json"
    # The day before has one job at 23:59:59 KST; the range's total has it too.
    assert [d["jobs_total"] for d in report["days"]] == [1, 13]
    assert report["total"]["jobs_total"] == 14 and report["timezone"] == "Asia/Seoul"
    assert report["total"]["by_category"] == {"glass": 5, "paper": 6}
    rows = list(csv.DictReader(io.StringIO(read("csv")[0].decode())))
    assert [r["day"] for r in rows] == [first.isoformat(), last.isoformat(), "total"]
    assert rows[1]["processing_p95_ms"] == "955.0" and rows[1]["cache_hit_ratio"] == "0.7"
    page, html_type = read("html")
    assert html_type.startswith("text/html")
    assert f"report {first} to {last}".encode() in page and b"model_unavailable" in page


def test_a_report_failing_for_a_missing_bucket_is_dead_lettered_then_requeued_and_succeeds(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    bucket = batch_settings.s3_reports_bucket
    delete_bucket(batch_settings, bucket)
    try:
        day = a_day()
        sent = celery_app.send_task("report.generate", args=[day.isoformat()])
        (letter,) = wait_for(
            lambda: dead_letters.list() or None, timeout=30, describe="report.generate in q.dlq"
        )
        assert (letter.id, letter.task, letter.args) == (
            sent.id,
            "report.generate",
            [day.isoformat()],
        )
        assert (letter.queue, letter.routing_key, letter.reason) == (
            "q.batch",
            "batch.generate",
            "rejected",
        )
        assert letter.headers["retries"] == 1  # retried once (batch_max_retries=1), then dead
        with pytest.raises(Exception, match="NoSuchBucket"):
            sent.get(timeout=5)
    finally:
        create_bucket(batch_settings, bucket)

    (requeued,) = dead_letters.requeue(matching(ids=[sent.id]))
    assert requeued.id == sent.id
    key = f"reports/{day.isoformat()}_{day.isoformat()}/report.json"
    body = wait_for(
        lambda: storage.s3_client(batch_settings).get_object(Bucket=bucket, Key=key),
        timeout=30,
        describe=f"{key} in S3",
    )
    assert json.loads(body["Body"].read())["total"]["jobs_total"] == 0
    assert dead_letters.depth() == 0


def test_a_bad_argument_is_dead_lettered_at_once_without_retries(
    celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    sent = celery_app.send_task("report.generate", args=["2024-03-10", "2024-01-01"])
    (letter,) = wait_for(
        lambda: dead_letters.list() or None, timeout=30, describe="the task in q.dlq"
    )
    assert letter.id == sent.id and letter.headers["retries"] == 0
    with pytest.raises(Exception, match="range ends"):
        sent.get(timeout=5)


def test_the_worker_is_the_batch_tier(batch_worker: ManagedProcess) -> None:
    """Prefork pool, prefetch 1, both queues: what topology.WORKERS says of "batch"."""
    log = batch_worker.log_path.read_text()
    assert "concurrency: 1 (prefork)" in log
    assert ".> q.batch          exchange=tasks(topic) key=batch.*" in log
    assert ".> q.sched          exchange=tasks(topic) key=sched.*" in log
    for task in ("analytics.daily", "report.generate", "cleanup.cache", "backup.database"):
        assert f"  . {task}\n" in log


@pytest.mark.parametrize("kind", ["cpu", "sleep"])
def test_load_simulation_adds_the_configured_work(batch_settings: Settings, kind: str) -> None:
    settings = batch_settings.model_copy(
        update={"batch_extra_work_seconds": 0.3, "batch_extra_work_kind": kind}
    )
    wall, cpu = time.perf_counter(), time.thread_time()
    extra_work(settings)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert wall >= 0.3
    if kind == "cpu":
        assert cpu >= 0.3  # a fixed amount of CPU work, as the production tasks do
    else:
        assert cpu < 0.1
    none = batch_settings.model_copy(update={"batch_extra_work_seconds": 0})
    started = time.perf_counter()
    extra_work(none)
    assert time.perf_counter() - started < 0.05


def test_the_prefork_worker_reports_its_childrens_tasks(
    batch_settings: Settings, celery_app: Celery
) -> None:
    """Tasks run in pool children; the worker's /metrics still counts them (multiprocess)."""
    url = f"http://127.0.0.1:{batch_settings.worker_metrics_port}/metrics"

    def successes() -> float:
        for family in text_string_to_metric_families(httpx.get(url, timeout=2).text):
            for sample in family.samples:
                if sample.name == "wastecoach_tasks_total" and sample.labels == {
                    "task": "analytics.daily",
                    "outcome": "success",
                }:
                    return sample.value
        return 0.0

    before = successes()
    celery_app.send_task("analytics.daily", args=[a_day().isoformat()]).get(timeout=30)
    assert successes() == before + 1
