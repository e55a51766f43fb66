"""The DLQ tooling against the real RabbitMQ: reading without losing, requeue, purge,
reconcile, the command line and the depth gauge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from celery import Celery
from kombu import Connection
from prometheus_client import REGISTRY

from harness.stack.waits import wait_for
from reference.common import topology
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste.analysis import progress_store
from reference.waste.models import Job, JobStatus
from reference.workers.dlq import DeadLetterQueue, DlqError, matching
from reference.workers.metrics import sample_queues
from tests.reference.workers.helpers import add_job, depths, publish_dead

pytestmark = pytest.mark.integration


def expire(app: Celery, task: str, arg: str, task_id: str | None = None, **options: object) -> str:
    """Publish a task that expires at once in its queue (no consumer there) and dies."""
    task_id = task_id or str(uuid.uuid4())
    app.send_task(task, args=[arg], task_id=task_id, expiration=0.001, **options)
    return task_id


def wait_depth(queue: DeadLetterQueue, n: int) -> None:
    wait_for(lambda: queue.depth() == n, timeout=15, describe=f"{n} message(s) in q.dlq")


def test_listing_twice_gives_the_same_messages_in_the_same_order(
    celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    ids = [expire(celery_app, "image.analyze", f"job-{i}") for i in range(5)]
    wait_depth(dead_letters, 5)
    first = dead_letters.list()
    second = dead_letters.list()
    assert [x.id for x in first] == [x.id for x in second] == ids
    assert dead_letters.depth() == 5  # nothing consumed by reading
    letter = first[0]
    assert (letter.task, letter.queue, letter.routing_key, letter.reason, letter.count) == (
        "image.analyze",
        "q.ai",
        "ai.analyze",
        "expired",
        1,
    )
    assert letter.args == ["job-0"] and letter.kwargs == {}
    assert letter.first_death is not None
    assert abs((datetime.now(UTC) - letter.first_death).total_seconds()) < 60
    assert [x.id for x in dead_letters.list(limit=2)] == ids[:2]
    assert [x.id for x in dead_letters.list(matching(ids=[ids[3]]))] == [ids[3]]


def test_show_gives_one_message_in_full_or_says_it_is_not_there(
    celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    task_id = expire(celery_app, "image.classify", "job-x", priority=7)
    wait_depth(dead_letters, 1)
    detail = dead_letters.show(task_id).detail()
    assert detail["headers"]["x-death"][0]["queue"] == "q.ai"
    assert detail["properties"]["priority"] == 7 and detail["content_type"] == "application/json"
    json.dumps(detail)  # printable as JSON (timestamps included)
    with pytest.raises(DlqError, match=r"no message with id nope in q\.dlq"):
        dead_letters.show("nope")
    assert dead_letters.depth() == 1


def test_a_walk_holds_its_messages_and_gives_them_all_back_even_when_it_fails(
    celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    ids = [expire(celery_app, "image.analyze", f"job-{i}") for i in range(4)]
    wait_depth(dead_letters, 4)
    with pytest.raises(RuntimeError, match="tool crashed"), dead_letters._walk() as walk:
        taken = [next(walk)[1].id, next(walk)[1].id]
        assert taken == ids[:2]
        # A concurrent reader sees only what is not held.
        assert [x.id for x in DeadLetterQueue(dead_letters.settings).list()] == ids[2:]
        raise RuntimeError("tool crashed")
    assert [x.id for x in dead_letters.list()] == ids


def test_a_walk_visits_only_what_was_there_when_it_began(
    celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    """A requeued task that fails again at once returns to the DLQ while the walk goes on; the
    walk must not meet it again (requeue --all would loop for ever)."""
    ids = [expire(celery_app, "image.analyze", f"job-{i}") for i in range(2)]
    wait_depth(dead_letters, 2)
    with dead_letters._walk() as walk:
        seen = [next(walk)[1].id]
        publish_dead(dead_letters.settings, [[], {}, {}], id="late", task="report.generate")
        wait_for(
            lambda: depths(dead_letters.settings)["q.dlq"][0] == 2,  # 1 waiting + the late one
            timeout=10,
            describe="the late message in q.dlq",
        )
        seen += [letter.id for _, letter in walk]
    assert seen == ids
    assert [x.id for x in dead_letters.list()] == [*ids, "late"]


def test_requeue_one_by_id_to_its_original_queue_with_its_headers(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    keep = expire(celery_app, "image.analyze", "job-keep", priority=9, headers={"x-trace": "t1"})
    other = expire(celery_app, "image.analyze", "job-other")
    wait_depth(dead_letters, 2)
    (done,) = dead_letters.requeue(matching(ids=[keep]))
    assert done.id == keep
    assert [x.id for x in dead_letters.list()] == [other]
    with Connection(batch_settings.broker_url) as conn:
        queue = topology.kombu_queue(topology.AI)(conn.default_channel)
        back = wait_for(lambda: queue.get(no_ack=True), timeout=10, describe="the copy in q.ai")
    assert back.headers["id"] == keep and back.headers["x-trace"] == "t1"
    assert back.headers["x-death"][0]["reason"] == "expired"  # its history travels with it
    assert back.properties["priority"] == 9 and "expiration" not in back.properties
    assert back.delivery_info["routing_key"] == "ai.analyze"
    assert json.loads(back.body)[0] == ["job-keep"]


def test_requeue_by_task_name_and_all(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    for i in range(2):
        expire(celery_app, "image.analyze", f"a-{i}")
    classify = expire(celery_app, "image.classify", "c-0")
    wait_depth(dead_letters, 3)
    done = dead_letters.requeue(matching(task="image.classify"))
    assert [x.id for x in done] == [classify]
    assert {x.task for x in dead_letters.list()} == {"image.analyze"}
    assert len(dead_letters.requeue(matching())) == 2
    assert dead_letters.depth() == 0
    wait_for(lambda: depths(batch_settings)["q.ai"][0] == 3, timeout=10, describe="3 in q.ai")


def test_an_unroutable_requeue_keeps_the_message(dead_letters: DeadLetterQueue) -> None:
    death = {
        "count": 1,
        "reason": "rejected",
        "queue": "q.gone",
        "time": datetime.now(UTC),
        "exchange": topology.EXCHANGE,
        "routing-keys": ["gone.task"],
    }
    publish_dead(
        dead_letters.settings, [[], {}, {}], id="lost-1", task="gone.task", **{"x-death": [death]}
    )
    publish_dead(dead_letters.settings, [[], {}, {}], id="lost-2", task="unknown.task")
    wait_depth(dead_letters, 2)
    with pytest.raises(DlqError, match="lost-1: the broker could not route"):
        dead_letters.requeue(matching(ids=["lost-1"]))
    with pytest.raises(DlqError, match="lost-2: no x-death and no known task"):
        dead_letters.requeue(matching(ids=["lost-2"]))
    assert sorted(x.id for x in dead_letters.list()) == ["lost-1", "lost-2"]


def test_purge_matching_then_all(celery_app: Celery, dead_letters: DeadLetterQueue) -> None:
    for i in range(3):
        expire(celery_app, "image.analyze", f"a-{i}")
    classify = expire(celery_app, "image.classify", "c-0")
    wait_depth(dead_letters, 4)
    assert dead_letters.purge(matching(task="image.analyze")) == 3
    assert [x.id for x in dead_letters.list()] == [classify]
    assert dead_letters.purge() == 1
    assert dead_letters.depth() == 0


def test_reconcile_fails_jobs_whose_ai_message_expired_unprocessed(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    hanging = add_job(batch_settings, datetime.now(UTC), JobStatus.QUEUED)
    finished = add_job(batch_settings, datetime.now(UTC), JobStatus.DONE)
    expire(celery_app, "image.analyze", str(hanging), task_id=str(hanging))
    expire(celery_app, "image.classify", str(finished), task_id=str(finished))
    expire(celery_app, "image.analyze", "not-a-job")
    publish_dead(batch_settings, [[], {}, {}], id="batch-1", task="report.generate")
    wait_depth(dead_letters, 4)

    result = dead_letters.reconcile()
    assert (result.examined, result.failed, result.already_terminal, result.unknown) == (3, 1, 1, 1)
    assert result.job_ids == [str(hanging)]
    with session_scope(batch_settings.database_url) as session:
        job = session.get(Job, hanging)
        assert job is not None and (job.status, job.error_code) == ("failed", "expired")
        assert job.finished_at is not None and "q.ai (expired)" in (job.error_message or "")
        done = session.get(Job, finished)
        assert done is not None and done.status == "done"  # left alone
    answer = progress_store(batch_settings).result(hanging)  # what the app polls
    assert answer is not None and answer.error is not None and answer.error.code == "expired"
    assert dead_letters.depth() == 4  # the messages stay for inspection
    assert dead_letters.reconcile().failed == 0  # idempotent


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference.workers", "dlq", *args],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_line(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    hanging = add_job(batch_settings, datetime.now(UTC), JobStatus.QUEUED)
    first = expire(celery_app, "image.analyze", str(hanging), task_id=str(hanging))
    second = expire(celery_app, "image.classify", "job-2")
    wait_depth(dead_letters, 2)

    listed = cli(batch_settings, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(x["id"], x["queue"], x["reason"]) for x in json.loads(listed.stdout)] == [
        (first, "q.ai", "expired"),
        (second, "q.ai", "expired"),
    ]
    table = cli(batch_settings, "list", "--task", "image.classify")
    assert second in table.stdout and first not in table.stdout
    assert table.stdout.rstrip().endswith("1 message(s)")
    shown = cli(batch_settings, "show", second)
    assert json.loads(shown.stdout)["headers"]["task"] == "image.classify"
    assert cli(batch_settings, "depth").stdout.strip() == "2"
    reconciled = cli(batch_settings, "reconcile")
    assert reconciled.stdout.startswith("examined 2 q.ai message(s): failed 1 job(s)")
    requeued = cli(batch_settings, "requeue", second)
    assert (requeued.returncode, requeued.stdout.strip()) == (0, f"requeued 1: {second}")
    purged = cli(batch_settings, "purge", "--all")
    assert (purged.returncode, purged.stdout.strip()) == (0, "purged 1")

    for args, code, message in [
        (("show", "nope"), 1, "error: no message with id nope in q.dlq"),
        (("requeue",), 1, "error: requeue: give message ids, or --task NAME, or --all (one)"),
        (("requeue", "gone"), 1, "error: not in the DLQ: gone"),
        (("frobnicate",), 2, "error: argument command: invalid choice"),
    ]:
        failed = cli(batch_settings, *args)
        assert failed.returncode == code, failed
        assert failed.stderr.startswith(message) and failed.stderr.count("\n") == 1, failed.stderr


def test_the_command_line_says_in_one_line_when_the_broker_is_down(
    batch_settings: Settings,
) -> None:
    down = batch_settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    failed = cli(down, "list")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1, failed.stderr
    assert "127.0.0.1:1" in failed.stderr


def test_the_gauge_follows_the_dlq(
    batch_settings: Settings, celery_app: Celery, dead_letters: DeadLetterQueue
) -> None:
    for i in range(3):
        expire(celery_app, "image.analyze", f"a-{i}")
    wait_depth(dead_letters, 3)
    assert sample_queues(batch_settings)["q.dlq"] == 3
    assert REGISTRY.get_sample_value("wastecoach_dlq_messages") == 3
    assert REGISTRY.get_sample_value("wastecoach_queue_messages", {"queue": "q.dlq"}) == 3


def test_the_batch_worker_serves_the_gauge_from_its_sampler(
    batch_settings: Settings,
    batch_worker: object,
    celery_app: Celery,
    dead_letters: DeadLetterQueue,
) -> None:
    url = f"http://127.0.0.1:{batch_settings.worker_metrics_port}/metrics"

    def gauge() -> float | None:
        for line in httpx.get(url, timeout=2).text.splitlines():
            if line.startswith("wastecoach_dlq_messages "):
                return float(line.split()[1])
        return None

    wait_for(lambda: gauge() == 0, timeout=15, describe="the gauge at 0")
    for i in range(2):
        expire(celery_app, "image.analyze", f"a-{i}")
    wait_for(lambda: gauge() == 2, timeout=15, describe="the gauge at 2 (sampled every 0.2 s)")
