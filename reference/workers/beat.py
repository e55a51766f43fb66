"""The beat schedule, the one place that says when the scheduled tasks run (Korean time).

The app factory installs it (``beat_schedule``, ``timezone``); ``python -m reference.workers
beat`` sends the tasks to ``q.sched``, which the batch worker consumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.schedules import crontab, schedule

from reference.analytics.days import TIMEZONE_NAME
from reference.common import topology
from reference.common.settings import Settings

# Celery reads crontabs in the app's timezone; beat.py owns it so the times below mean Seoul.
TIMEZONE = TIMEZONE_NAME


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    cron: dict[str, str]  # crontab fields; anything unset is "*"


ENTRIES: tuple[Entry, ...] = (
    Entry("cleanup-cache-hourly", "cleanup.cache", {"minute": "0"}),
    Entry("backup-database-0200", "backup.database", {"minute": "0", "hour": "2"}),
    Entry("stats-aggregate-0300", "stats.aggregate", {"minute": "0", "hour": "3"}),
    # Jobs whose q.ai message expired or died unfinished are failed within a minute.
    Entry("reconcile-jobs-every-minute", "jobs.reconcile", {}),
    # Analyses whose upload never completed are failed and their objects removed.
    Entry("expire-uploads-every-10-minutes", "jobs.expire_uploads", {"minute": "*/10"}),
)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``; ``beat_every_seconds`` > 0 (tests) swaps in an interval."""
    entries: dict[str, dict[str, Any]] = {}
    for entry in ENTRIES:
        spec = topology.queue_for_task(entry.task)
        when: crontab | schedule = crontab(**entry.cron)
        if settings.beat_every_seconds > 0:
            when = schedule(timedelta(seconds=settings.beat_every_seconds))
        entries[entry.name] = {
            "task": entry.task,
            "schedule": when,
            "options": {
                "queue": spec.name,
                "exchange": topology.EXCHANGE,
                "routing_key": topology.routing_key_for_task(entry.task),
            },
        }
    return entries
