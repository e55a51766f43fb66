"""map.search is registered with the workers' Celery app and routed to q.api (no servers)."""

from __future__ import annotations

from reference.common import topology
from reference.common.settings import Settings
from reference.workers.app import create_celery


def test_map_search_is_an_api_task_that_keeps_its_result() -> None:
    app = create_celery(Settings())
    app.loader.import_default_modules()
    task = app.tasks["map.search"]
    assert task.__doc__ and len(task.__doc__.strip().splitlines()) == 1
    # The workers ignore results by default; the search's caller waits for this one.
    assert app.conf.task_ignore_result is True and task.ignore_result is False
    route = app.amqp.router.route({}, "map.search")
    assert route["queue"].name == topology.API.name
    assert route["routing_key"] == "api.search"
    assert topology.API.name in topology.worker("api").queues
