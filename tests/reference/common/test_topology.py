"""The queue topology as declared on the real RabbitMQ: arguments, bindings, priority."""

from __future__ import annotations

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.common import topology
from reference.workers.app import create_celery


def test_every_task_routes_to_its_queue() -> None:
    for spec in topology.QUEUES:
        for task in spec.tasks:
            assert topology.queue_for_task(task) is spec
            key = topology.routing_key_for_task(task)
            assert spec.binding is not None and key.split(".")[0] == spec.binding.split(".")[0]
    assert topology.routing_key_for_task("image.analyze") == "ai.analyze"
    with pytest.raises(KeyError):
        topology.queue_for_task("no.such.task")


def test_seed_arguments() -> None:
    assert topology.AI.arguments == {
        "x-max-priority": 10,
        "x-message-ttl": 300_000,
        "x-dead-letter-exchange": "tasks.dlx",
        "x-dead-letter-routing-key": "dead",
    }
    assert topology.BATCH.arguments["x-max-priority"] == 1
    assert topology.BATCH.arguments["x-message-ttl"] == 3_600_000
    assert topology.API.arguments["x-max-priority"] == 5
    assert topology.SCHED.arguments == {"x-max-priority": 3}
    assert topology.DLQ.arguments == {}


@pytest.mark.integration
def test_declared_queues_have_the_arguments(broker: Connection) -> None:
    """Re-declaring with different arguments is refused: the server holds exactly ours."""
    channel = broker.default_channel
    for spec in topology.QUEUES:
        name, messages, consumers = channel.queue_declare(spec.name, passive=True)
        assert (name, messages, consumers) == (spec.name, 0, 0)
        if spec.arguments:
            wrong = dict(spec.arguments)
            wrong.pop(next(iter(wrong)))
            other = broker.channel()
            with pytest.raises(Exception, match="PRECONDITION_FAILED"):
                other.queue_declare(spec.name, durable=True, arguments=wrong)
    # The declaration is idempotent with the same arguments.
    topology.declare(broker)


@pytest.mark.integration
def test_routing_keys_reach_their_queues(broker: Connection) -> None:
    producer = Producer(broker.default_channel, exchange=Exchange(topology.EXCHANGE, "topic"))
    for spec in topology.QUEUES:
        for task in spec.tasks:
            producer.publish({"task": task}, routing_key=topology.routing_key_for_task(task))
    expected = {spec.name: len(spec.tasks) for spec in topology.QUEUES}
    wait_for(lambda: _depths(broker) == expected, timeout=10, describe=f"depths {expected}")


@pytest.mark.integration
def test_dead_letters_reach_the_dlq(broker: Connection) -> None:
    queue = topology.kombu_queue(topology.AI)(broker.default_channel)
    Producer(broker.default_channel).publish(
        {"n": 1}, exchange=topology.EXCHANGE, routing_key="ai.analyze"
    )
    message = wait_for(lambda: queue.get(no_ack=False), timeout=10, describe="message in q.ai")
    message.reject(requeue=False)
    dlq = topology.kombu_queue(topology.DLQ)(broker.default_channel)
    dead = wait_for(lambda: dlq.get(no_ack=True), timeout=10, describe="message in q.dlq")
    assert dead.payload == {"n": 1}
    death = dead.headers["x-death"][0]
    assert death["queue"] == "q.ai" and death["reason"] == "rejected"


@pytest.mark.integration
def test_priority_inside_q_ai(broker: Connection, sandbox: Sandbox) -> None:
    """High-priority tasks published behind low-priority ones are consumed first."""
    celery = create_celery(sandbox.settings())
    low = [f"low-{i}" for i in range(5)]
    high = [f"high-{i}" for i in range(5)]
    for task_id in low:
        celery.send_task("image.analyze", args=[task_id], task_id=task_id, priority=1)
    for task_id in high:
        celery.send_task("image.analyze", args=[task_id], task_id=task_id, priority=10)

    seen: list[str] = []
    queue = Queue(topology.AI.name, no_declare=True)
    with Consumer(broker.channel(), [queue], prefetch_count=1, accept=["json"]) as consumer:
        consumer.register_callback(lambda _body, msg: (seen.append(msg.headers["id"]), msg.ack()))
        while len(seen) < 10:
            broker.drain_events(timeout=5)
    assert seen[:5] == high  # FIFO within one priority, higher priority first
    assert seen[5:] == low


@pytest.mark.integration
def test_reset_empties_the_queues(broker: Connection) -> None:
    Producer(broker.default_channel).publish({}, exchange=topology.EXCHANGE, routing_key="batch.x")
    wait_for(lambda: _depths(broker)["q.batch"] == 1, timeout=10, describe="one batch message")
    topology.reset(broker)
    assert set(_depths(broker).values()) == {0}


def _depths(broker: Connection) -> dict[str, int]:
    return {name: messages for name, messages, _ in topology.iter_depths(broker)}
