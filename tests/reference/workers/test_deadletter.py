"""How a task's failure ends when its retry cannot be published: Celery's own ``retry`` is used
(it acknowledges the message only after the new one is confirmed), and a retry the broker does
not take dead-letters the message after ``on_dead`` instead of dropping it."""

from __future__ import annotations

import uuid

import pytest
from celery.exceptions import Reject

from reference.common.settings import Settings
from reference.workers import deadletter
from reference.workers.app import create_celery


def test_a_retry_the_broker_does_not_take_dead_letters_after_on_dead() -> None:
    # Nothing listens on port 9: the retry's publish fails after kombu's own attempts.
    settings = Settings(broker_url="amqp://guest:guest@127.0.0.1:9//", publish_timeout_seconds=1)
    app = create_celery(settings)
    app.loader.import_default_modules()  # the task modules, as a worker imports them
    task = app.tasks["image.analyze"]
    job_id = str(uuid.uuid4())
    task.push_request(
        id=job_id,
        args=[job_id],
        kwargs={},
        retries=0,
        called_directly=False,
        delivery_info={"exchange": "tasks", "routing_key": "ai.analyze", "priority": 10},
    )
    dead: list[BaseException] = []

    def work() -> None:
        raise ConnectionError("redis down")

    try:
        with pytest.raises(Reject) as rejected:
            deadletter.run(
                task, settings, work, retries=deadletter.Retries(3, 0.01), on_dead=dead.append
            )
    finally:
        task.pop_request()
        app.close()
    assert rejected.value.requeue is False  # q.ai dead-letters it to q.dlq
    [reason] = dead
    assert isinstance(reason, deadletter.RetryUnpublished)
    assert "redis down" in str(reason)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = deadletter.Retries(6, 1.0, 30.0)
    assert [policy.countdown(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize("name", ["image.analyze", "image.classify"])
def test_an_ai_task_never_acknowledges_a_failure(name: str) -> None:
    app = create_celery(Settings())
    app.loader.import_default_modules()
    task = app.tasks[name]
    assert task.acks_late and task.reject_on_worker_lost
    assert task.acks_on_failure is False and task.acks_on_timeout is False
    app.close()
