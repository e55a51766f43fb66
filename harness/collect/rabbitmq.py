"""Queue depth, unacknowledged messages, consumers and rates from RabbitMQ's management API."""

from __future__ import annotations

import time
from urllib.parse import quote, unquote, urlsplit

import httpx

from harness.collect.series import Point, point
from harness.stack.sandbox import management_api
from reference.common import topology


class RabbitSampler:
    def __init__(
        self, broker_url: str, client: httpx.Client | None = None, *, management_url: str = ""
    ) -> None:
        parts = urlsplit(broker_url)
        self.vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self.api = management_api(broker_url, management_url)
        self.http = client or httpx.Client(
            auth=(unquote(parts.username or "guest"), unquote(parts.password or "guest")),
            timeout=5,
        )

    def close(self) -> None:
        self.http.close()

    def sample(self) -> list[Point]:
        answer = self.http.get(
            f"{self.api}/queues/{quote(self.vhost, safe='')}",
            params={
                "columns": "name,messages_ready,messages_unacknowledged,consumers,"
                "message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
            },
        )
        answer.raise_for_status()
        now = time.time()
        ours = {spec.name for spec in topology.QUEUES}
        points: list[Point] = []
        for queue in answer.json():
            name = queue["name"]
            if name not in ours:
                continue
            stats = queue.get("message_stats") or {}
            points += [
                point(now, "queue_depth", queue.get("messages_ready", 0), queue=name),
                point(now, "queue_unacked", queue.get("messages_unacknowledged", 0), queue=name),
                point(now, "queue_consumers", queue.get("consumers", 0), queue=name),
                point(
                    now,
                    "queue_publish_rate",
                    (stats.get("publish_details") or {}).get("rate", 0.0),
                    queue=name,
                ),
                point(
                    now,
                    "queue_deliver_rate",
                    (stats.get("deliver_get_details") or {}).get("rate", 0.0),
                    queue=name,
                ),
            ]
            if name == topology.DLQ.name:
                points.append(point(now, "dlq_length", queue.get("messages_ready", 0)))
        return points
