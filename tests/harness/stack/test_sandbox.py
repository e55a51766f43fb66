"""The per-run sandbox: cleanup removes what it made, part by part, and a server gone by then
is one ``CleanupError`` naming what is left behind (not a client's traceback)."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
import redis

from harness.errors import CleanupError
from harness.providers.probes import libpq_url
from harness.stack.processes import free_port
from harness.stack.sandbox import Sandbox, ServerUrls

pytestmark = pytest.mark.integration


def _database_exists(servers: ServerUrls, name: str) -> bool:
    with psycopg.connect(libpq_url(servers.database_url)) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def test_close_removes_the_database_vhost_and_keys(servers: ServerUrls) -> None:
    box = Sandbox(servers).open()
    client = redis.Redis.from_url(servers.redis_url)
    client.set(f"{box.redis_prefix}k", "v")
    box.close()
    assert not _database_exists(servers, box.name)
    assert client.exists(f"{box.redis_prefix}k") == 0
    box.close()  # nothing left to remove: a second close is a no-op


def test_redis_gone_at_cleanup_is_one_cleanup_error_and_the_rest_is_removed(
    servers: ServerUrls,
) -> None:
    box = Sandbox(servers).open()
    box.servers = replace(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(CleanupError) as caught:
        box.close()
    message = str(caught.value)
    assert "\n" not in message
    assert f"Redis keys {box.redis_prefix}*" in message and "ConnectionError" in message
    assert "database" not in message and "vhost" not in message  # those were removed
    assert not _database_exists(servers, box.name)


def test_a_sandbox_that_never_opened_has_nothing_to_clean(servers: ServerUrls) -> None:
    dead = replace(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    box = Sandbox(dead)
    with pytest.raises(Exception, match="Redis at"):
        box.open()
    box.close()  # the failed open made nothing; closing touches no server
