"""The local stack the breaker runs of a module share (test_run.py, test_watch.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.stack.local import LocalStack
from harness.stack.sandbox import ServerUrls
from tests.harness.managed_broker import servers_with_management
from tests.harness.run import breaker


@pytest.fixture(scope="module")
def breaker_stack(
    servers: ServerUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """One stack for a module's breaker runs whose breakage needs no restart (a fault injected
    into the running stack, the fakes reconfigured, a process killed): each run resets it first
    (harness.stack.local.LocalStack.reset), so it starts from the state a stack of its own would.
    Per module, not per session: an idle stack holds Redis connections, and every other run's
    Redis-clients gate counts the whole server's (255 against 200 in the Prometheus smoke run
    beside an idle breaker stack on a busy machine)."""
    with servers_with_management(servers) as urls:
        folder = tmp_path_factory.mktemp("breaker-stack")
        with LocalStack(breaker.shared_stack_options(folder, urls)) as stack:
            yield stack
