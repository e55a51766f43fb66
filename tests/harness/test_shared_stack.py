"""The stack the breaker runs share (conftest's ``breaker_stack``): a reset brings it back to as
it was started, and a run that needs it started otherwise is refused it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from kombu import Connection

from harness.run.runner import HarnessError, RunOptions, run
from harness.stack.local import LocalStack
from reference.common import topology
from reference.workers.app import create_celery
from tests.harness.breaker import WORKERS, breaker_toml

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]


def _rows(stack: LocalStack, table: str) -> int:
    assert stack.settings is not None
    url = stack.settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
    return int(count)


def test_a_reset_leaves_the_stack_as_it_was_started(breaker_stack: LocalStack) -> None:
    stack = breaker_stack
    settings = stack.settings
    assert settings is not None
    # What a run leaves behind: a user and its rows, keys, a batch task the worker is busy
    # with and one still queued behind it, a fake's counters and config, a process gone.
    login = httpx.post(
        f"{stack.base_url}/api/v1/auth/dev-login",
        json={"provider": "kakao", "subject": "left-behind"},
        timeout=10,
    )
    login.raise_for_status()
    store = redis.Redis.from_url(settings.redis_url)
    store.set(f"{settings.redis_prefix}left-behind", 1)
    celery = create_celery(settings)
    for _ in range(2):
        celery.send_task("analytics.daily", priority=topology.BATCH.max_priority)
    celery.close()
    openai = stack.fake_url("openai")
    httpx.put(f"{openai}/_mock/config", json={"error_rate": 1.0}, timeout=5).raise_for_status()
    stack.kill_process("s3")
    assert _rows(stack, "auth.users") == 1

    fast = {"latency": {"kind": "fixed", "seconds": 0.1}, "seed": 3}
    stack.reset({"openai": json.dumps(fast)})

    assert stack.health() == []  # every process up, every queue consumed
    assert httpx.get(f"{stack.s3_url}/", timeout=5).status_code == 200
    with Connection(settings.broker_url) as conn:
        assert {q: n for q, n, _ in topology.iter_depths(conn)} == dict.fromkeys(
            (spec.name for spec in topology.QUEUES), 0
        )
    assert not list(store.scan_iter(match=f"{settings.redis_prefix}*"))
    assert _rows(stack, "auth.users") == 0
    assert _rows(stack, "locations.collection_points") == stack.options.location_points
    config = httpx.get(f"{openai}/_mock/config", timeout=5).json()
    assert config["error_rate"] == 0.0 and config["seed"] == 3, config


def test_a_run_needing_the_stack_started_otherwise_is_refused_it(
    tmp_path: Path, breaker_stack: LocalStack
) -> None:
    scenario = tmp_path / "breaker.toml"
    scenario.write_text(breaker_toml())
    options = RunOptions(
        scenario,
        reports_dir=tmp_path / "reports",
        stack=breaker_stack,
        workers=WORKERS,
        seed_replicas=False,
        stack_settings={"cache_enabled": False},
    )
    with pytest.raises(HarnessError, match="other settings_overrides than this run needs"):
        run(options)
