"""Scheduled tasks on ``q.sched`` (sent by Celery beat, see ``beat.py``; run by the batch
worker): cache cleanup hourly, the database backup at 02:00 and the statistics roll-up at
03:00, Korean time, every minute the reconcile of jobs whose ``q.ai`` message died, and every
ten minutes the expiry of analyses whose upload never completed."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task

from reference.analytics import days, totals
from reference.common import revocation
from reference.common.db import session_scope
from reference.common.settings import get_settings
from reference.waste import abandoned
from reference.workers import backup, cache_cleanup, deadletter, dlq

log = logging.getLogger(__name__)


def _result_ttl(task: Task) -> int:
    expires = task.app.conf.result_expires
    if isinstance(expires, timedelta):
        return int(expires.total_seconds())
    return int(expires or 24 * 3600)


@shared_task(name="cleanup.cache", bind=True, ignore_result=False, acks_on_failure=False)
def cleanup_cache(self: Task) -> dict[str, Any]:
    """Remove orphaned and stale keys under the deployment's Redis prefix, and revocations no
    token can use any more from PostgreSQL."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        counts = cache_cleanup.cleanup(settings, _result_ttl(self))
        counts["revocations_expired"] = revocation.purge_expired(settings)
        log.info("cleanup.cache: %s", counts)
        return counts

    return deadletter.run(self, settings, work)


@shared_task(name="jobs.reconcile", bind=True, ignore_result=False, acks_on_failure=False)
def reconcile_jobs(self: Task) -> dict[str, Any]:
    """Fail the jobs of dead q.ai messages (expired in the queue, or rejected while their
    database was down) that never finished; repair the Redis copy of those that did."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        done = dlq.reconcile(settings)
        if done.failed:
            log.warning("jobs.reconcile failed %d jobs: %s", done.failed, done.job_ids)
        return {"examined": done.examined, "failed": done.failed, "job_ids": done.job_ids}

    return deadletter.run(self, settings, work)


@shared_task(name="jobs.expire_uploads", bind=True, ignore_result=False, acks_on_failure=False)
def expire_uploads(self: Task) -> dict[str, Any]:
    """Fail the analyses whose upload was never completed (upload_abandoned) and delete their
    objects (reference.waste.abandoned)."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        done = abandoned.expire(settings)
        if done.jobs:
            log.info("jobs.expire_uploads expired %d jobs", done.jobs)
        return done.as_dict()

    return deadletter.run(self, settings, work)


@shared_task(name="backup.database", bind=True, ignore_result=False, acks_on_failure=False)
def backup_database(self: Task, day: str | None = None) -> dict[str, Any]:
    """Stream a pg_dump (custom format) of the database to S3 as backups/<date>.dump."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        try:
            target = days.parse(day) if day else days.today()
            backup.pg_dump_binary(settings)
        except (ValueError, backup.BackupError) as exc:
            raise deadletter.Permanent(str(exc)) from exc
        done = backup.backup(settings, target)
        log.info("backup.database: %s", done.as_dict())
        return done.as_dict()

    return deadletter.run(self, settings, work)


@shared_task(name="stats.aggregate", bind=True, ignore_result=False, acks_on_failure=False)
def stats_aggregate(self: Task) -> dict[str, Any]:
    """Fill in missing recent days of waste.daily_stats and rebuild waste.stats_totals."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        with session_scope(settings.database_url) as session:
            rollup = totals.roll_up(session, days.yesterday(), settings.stats_backfill_days)
        return {"backfilled": rollup.backfilled, "scopes": rollup.scopes, "days": rollup.days}

    return deadletter.run(self, settings, work)
