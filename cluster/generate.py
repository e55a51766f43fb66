"""Write the files under ``cluster/`` that are derived from the project's sources of truth.

Today that is RabbitMQ's boot-time definitions (exchanges, the five queues with their arguments,
bindings, the mirroring policy) from ``reference.common.topology``. The queues are built from the
very kombu objects the Celery app and ``topology.declare`` use, and their arguments go through
kombu's own AMQP argument preparation, so a broker booted from this file accepts the services'
and workers' declarations instead of answering ``PRECONDITION_FAILED``.

    python -m cluster.generate          # rewrite the generated files (from the repo root)
    python -m cluster.generate --check  # exit 1 if a committed file differs from its source

``tests/cluster/test_generated.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kombu.transport.base import to_rabbitmq_queue_arguments

from reference.common import topology

CLUSTER = Path(__file__).resolve().parent
DEFINITIONS = CLUSTER / "base" / "messaging" / "rabbitmq" / "definitions.json"
VHOST = "/"

# Classic queues (priorities need them on RabbitMQ 3.10, see DESIGN.md) live on one node unless
# mirrored; two copies on a three-node cluster survive the loss of one RabbitMQ pod.
MIRRORING_POLICY: dict[str, Any] = {
    "vhost": VHOST,
    "name": "ha-task-queues",
    "pattern": r"^q\.",
    "apply-to": "queues",
    "priority": 0,
    "definition": {"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"},
}


def rabbitmq_definitions() -> dict[str, Any]:
    """The topology as a RabbitMQ definitions document (no users: those come from a Secret)."""
    exchanges = [
        {
            "name": exchange.name,
            "vhost": VHOST,
            "type": exchange.type,
            "durable": exchange.durable,
            "auto_delete": exchange.auto_delete,
            "internal": False,
            "arguments": dict(exchange.arguments or {}),
        }
        for exchange in topology.exchanges()
    ]
    queues = []
    bindings = []
    for queue in topology.kombu_queues():
        arguments = to_rabbitmq_queue_arguments(
            dict(queue.queue_arguments or {}),
            expires=queue.expires,
            message_ttl=queue.message_ttl,
            max_length=queue.max_length,
            max_length_bytes=queue.max_length_bytes,
            max_priority=queue.max_priority,
        )
        queues.append(
            {
                "name": queue.name,
                "vhost": VHOST,
                "durable": queue.durable,
                "auto_delete": queue.auto_delete,
                "arguments": dict(sorted(arguments.items())),
            }
        )
        bindings.append(
            {
                "source": queue.exchange.name,
                "vhost": VHOST,
                "destination": queue.name,
                "destination_type": "queue",
                "routing_key": queue.routing_key,
                "arguments": dict(queue.binding_arguments or {}),
            }
        )
    return {
        "vhosts": [{"name": VHOST}],
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": [MIRRORING_POLICY],
    }


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


GENERATED: dict[Path, Callable[[], str]] = {
    DEFINITIONS: lambda: render_json(rabbitmq_definitions()),
}


def stale_files() -> list[Path]:
    """The generated files whose committed content differs from what their source gives."""
    return [
        path
        for path, render in GENERATED.items()
        if not path.exists() or path.read_text(encoding="utf-8") != render()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(
                f"{path.relative_to(CLUSTER.parent)} is stale: run `python -m cluster.generate`",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, render in GENERATED.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {path.relative_to(CLUSTER.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
