"""The beat schedule: its entries (task, crontab in Korean time, queue), and Celery beat run
for real, sending them to q.sched."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from kombu import Connection

from harness.stack.processes import ManagedProcess
from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.common import topology
from reference.common.settings import Settings
from reference.workers.app import create_celery
from tests.factories import LOG_DIR

SEOUL = ZoneInfo("Asia/Seoul")


def test_the_schedule_is_the_seeds() -> None:
    app = create_celery(Settings())
    schedule = app.conf.beat_schedule
    assert str(app.conf.timezone) == "Asia/Seoul"
    found = {
        entry["task"]: (
            entry["schedule"].minute,
            entry["schedule"].hour,
            entry["options"]["queue"],
            entry["options"]["routing_key"],
        )
        for entry in schedule.values()
    }
    every_hour = set(range(24))
    assert found == {
        "cleanup.cache": ({0}, every_hour, "q.sched", "sched.cache"),
        "backup.database": ({0}, {2}, "q.sched", "sched.database"),
        "stats.aggregate": ({0}, {3}, "q.sched", "sched.aggregate"),
        "jobs.reconcile": (set(range(60)), every_hour, "q.sched", "sched.reconcile"),
        "jobs.expire_uploads": (
            set(range(0, 60, 10)),
            every_hour,
            "q.sched",
            "sched.expire_uploads",
        ),
    }
    for entry in schedule.values():
        assert isinstance(entry["schedule"], crontab)
        assert entry["schedule"].day_of_month == set(range(1, 32))  # every day
        assert entry["task"] in topology.SCHED.tasks


@pytest.mark.parametrize(
    ("task", "last_run", "not_yet", "due"),
    [
        # Daily at 02:00 and 03:00 Seoul time (17:00 and 18:00 UTC the day before).
        ("backup.database", (26, 2, 0, 0), (27, 1, 59, 59), (27, 2, 0, 1)),
        ("stats.aggregate", (26, 3, 0, 0), (27, 2, 59, 59), (27, 3, 0, 1)),
        ("cleanup.cache", (26, 14, 0, 0), (26, 14, 59, 59), (26, 15, 0, 1)),
        ("jobs.reconcile", (26, 14, 7, 0), (26, 14, 7, 59), (26, 14, 8, 1)),
        ("jobs.expire_uploads", (26, 14, 10, 0), (26, 14, 19, 59), (26, 14, 20, 1)),
    ],
)
def test_entries_fall_due_at_their_korean_times(
    task: str,
    last_run: tuple[int, int, int, int],
    not_yet: tuple[int, int, int, int],
    due: tuple[int, int, int, int],
) -> None:
    app = create_celery(Settings())
    (entry,) = (e for e in app.conf.beat_schedule.values() if e["task"] == task)
    when = copy.copy(entry["schedule"])
    when.app = app

    def at(day: int, hour: int, minute: int, second: int) -> datetime:
        return datetime(2026, 11, day, hour, minute, second, tzinfo=SEOUL)

    when.nowfun = lambda: at(*not_yet)
    assert not when.is_due(at(*last_run)).is_due
    when.nowfun = lambda: at(*due)
    assert when.is_due(at(*last_run)).is_due


def test_the_test_override_swaps_in_an_interval() -> None:
    app = create_celery(Settings(beat_every_seconds=2))
    for entry in app.conf.beat_schedule.values():
        assert entry["schedule"].run_every.total_seconds() == 2


@pytest.mark.integration
def test_celery_beat_sends_every_entry_to_q_sched(
    sandbox: Sandbox, broker: Connection, tmp_path: Path
) -> None:
    """``python -m reference.workers beat`` for real (with the test interval), no worker: the
    five tasks appear in q.sched with the topology's routing keys."""
    settings = sandbox.settings(beat_every_seconds=0.2)
    beat = ManagedProcess.python_module(
        "beat",
        "reference.workers",
        ["beat", f"--schedule={tmp_path / 'beat-schedule'}", f"--pidfile={tmp_path / 'beat.pid'}"],
        settings.to_env(),
        LOG_DIR,
    ).start()
    queue = topology.kombu_queue(topology.SCHED)(broker.default_channel)
    seen: dict[str, str] = {}
    try:

        def all_five() -> bool:
            while (message := queue.get(no_ack=True)) is not None:
                seen[message.headers["task"]] = message.delivery_info["routing_key"]
            return len(seen) == 5

        wait_for(all_five, timeout=30, describe="the five entries in q.sched", abort=beat.death)
    finally:
        beat.stop()
        queue.purge()  # what beat sent after the five
    assert seen == {
        "cleanup.cache": "sched.cache",
        "backup.database": "sched.database",
        "stats.aggregate": "sched.aggregate",
        "jobs.reconcile": "sched.reconcile",
        "jobs.expire_uploads": "sched.expire_uploads",
    }
