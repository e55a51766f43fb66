"""Batch tasks on ``q.batch`` (batch worker, prefork, prefetch 1): the daily analytics and
reports. In production they take 30-60 s and 60-120 s; ``batch_extra_work_seconds`` makes ours
as long for load simulation (flooding q.batch to show AI work is not starved)."""

from __future__ import annotations

import hashlib
import time
from datetime import date
from typing import Any

from celery import Task, shared_task

from reference.analytics import daily, days, report
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.workers import deadletter


def extra_work(settings: Settings) -> None:
    """Load simulation: ``batch_extra_work_seconds`` of CPU time burnt (a fixed amount of work,
    which takes longer on a contended node, as real work does) or of sleep; 0 does nothing."""
    seconds = settings.batch_extra_work_seconds
    if seconds <= 0:
        return
    if settings.batch_extra_work_kind == "sleep":
        time.sleep(seconds)
        return
    deadline = time.thread_time() + seconds
    digest = b"wastecoach"
    while time.thread_time() < deadline:
        for _ in range(1000):
            digest = hashlib.sha256(digest).digest()


def _days(first: str | None, last: str | None = None) -> tuple[date, date]:
    """The task's day arguments (default: yesterday in Korea); bad ones are permanent."""
    try:
        start = days.parse(first) if first else days.yesterday()
        end = days.parse(last) if last else start
        days.check_range(start, end)
    except ValueError as exc:
        raise deadletter.Permanent(str(exc)) from None
    return start, end


@shared_task(name="analytics.daily", bind=True, ignore_result=False, acks_on_failure=False)
def analytics_daily(self: Task, day: str | None = None) -> dict[str, Any]:
    """Aggregate one Korean day's jobs (default: yesterday) into waste.daily_stats."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        target, _ = _days(day)
        with session_scope(settings.database_url) as session:
            stats = daily.run_day(session, target)
        extra_work(settings)
        return stats.as_dict()

    return deadletter.run(self, settings, work)


@shared_task(name="report.generate", bind=True, ignore_result=False, acks_on_failure=False)
def report_generate(
    self: Task, first: str | None = None, last: str | None = None
) -> dict[str, Any]:
    """Write the report of the days ``first`` to ``last`` (default: yesterday) to S3."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        start, end = _days(first, last)
        with session_scope(settings.database_url) as session:
            built = report.build(session, start, end)
        extra_work(settings)
        keys = report.upload(settings, built)
        return {
            "key": keys["json"],
            "keys": keys,
            "bucket": report.reports_bucket(settings),
            "jobs_total": built.total.jobs_total,
        }

    return deadletter.run(self, settings, work)
