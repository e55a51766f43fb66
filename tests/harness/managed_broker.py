"""A RabbitMQ with its management API for whole-stack runs: the shared broker when its
management plugin answers, else a throw-away node with the plugin on a free port (the runner's
queue gates read the management API, and the shared broker must not be reconfigured)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from harness.providers.ephemeral.rabbitmq import EphemeralRabbitMQ
from harness.providers.ports import LOOPBACK
from harness.stack.sandbox import ServerUrls, management_api
from harness.stack.waits import wait_for


class RabbitMQWithManagement(EphemeralRabbitMQ):
    """An ephemeral node with the management plugin listening on its third port."""

    extra_ports = 2  # Erlang distribution, then the management API

    def _prepare(self, workdir: Path, ports: list[int]) -> None:
        super()._prepare(workdir, ports)
        (workdir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        config = workdir / "rabbitmq.conf"
        config.write_text(
            config.read_text()
            + f"management.tcp.ip = {LOOPBACK}\nmanagement.tcp.port = {ports[2]}\n"
        )

    @property
    def management_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports[2]}"


def _answers(api: str) -> bool:
    try:
        return httpx.get(f"{api}/overview", auth=("guest", "guest"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def servers_with_management(servers: ServerUrls) -> Iterator[ServerUrls]:
    if _answers(management_api(servers.broker_url, servers.management_url)):
        yield servers
        return
    with RabbitMQWithManagement() as broker:
        api = management_api(broker.url(), broker.management_url)
        wait_for(lambda: _answers(api), timeout=60, describe=f"management API at {api}")
        yield replace(servers, broker_url=broker.url(), management_url=broker.management_url)
