"""The release gate on real runs: each gate fails when the property it guards is broken.

Every test runs a short scenario (``breaker``, about 20 s of load; tests/harness/run/breaker.py)
against a local stack through :func:`harness.run.runner.run`, with one thing broken: the cache
disabled, the model slowed down or failing, priority removed (the AI worker also consumes
q.batch), jobs dropped by a rogue consumer, q.dlq flooded, Redis connections leaked, the cache
corrupted, S3 gone, a faulty build. The control run, with nothing broken, passes every gate; so
the failures below come from the breakage, not from the scenario.

The runs whose breakage needs no restart (a fault injected into the running stack, the model
fake reconfigured) share one stack (conftest's ``breaker_stack``), reset before each run; those
that change the stack's settings, workers or build start their own. The last tests check the
shared stack itself: a reset brings it back to as it was started, and a run that needs it
started otherwise is refused it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from kombu import Connection

from harness.gates.evaluate import Verdict
from harness.report.rundata import SUMMARY, RunData
from harness.run.runner import HarnessError, RunOptions, RunResult, fake_configs, run
from harness.scenario import load_scenario
from harness.stack.local import LocalStack
from harness.stack.sandbox import ServerUrls
from reference.common import topology
from reference.workers.app import create_celery
from tests.harness import builds
from tests.harness.run.breaker import GATES, WORKERS, breaker_toml

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

# The breaker scenario's knobs (breaker_toml's keywords) among _run's options.
SCENARIO_KNOBS = ("latency", "error_rate", "users", "items", "variants")


def _scenario(folder: Path, **knobs: Any) -> Path:
    path = folder / "breaker.toml"
    path.write_text(breaker_toml(**knobs))
    return path


def _run(tmp_path: Path, servers: ServerUrls, **options: Any) -> RunResult:
    knobs = {name: options.pop(name) for name in SCENARIO_KNOBS if name in options}
    options.setdefault("workers", WORKERS)
    options.setdefault("seed_replicas", False)
    return run(
        RunOptions(
            scenario_path=_scenario(tmp_path, **knobs),
            reports_dir=tmp_path / "reports",
            servers=servers,
            drain_seconds=options.pop("drain_seconds", 15.0),
            **options,
        )
    )


def _verdicts(result: RunResult) -> dict[str, Verdict]:
    by_name = {gate.gate.title: gate.verdict for gate in result.evaluation.gates}
    return {key: by_name[name] for key, name in GATES.items()}


def _observed(result: RunResult, key: str) -> float | None:
    gate = next(g for g in result.evaluation.gates if g.gate.title == GATES[key])
    return gate.thresholds[0].observed


def _assert_fails(result: RunResult, *keys: str) -> None:
    verdicts = _verdicts(result)
    for key in keys:
        assert verdicts[key] is Verdict.FAIL, (key, verdicts, result.summary["headline"])
    assert result.exit_code == 1


def test_unbroken_run_passes_every_gate_and_writes_its_report(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(tmp_path, servers, stack=breaker_stack)
    verdicts = _verdicts(result)
    assert all(v is Verdict.PASS for v in verdicts.values()), (
        verdicts,
        result.summary["headline"],
        result.summary["notes"],
    )
    assert result.exit_code == 0
    # The report a person and CI read back.
    for name in ("summary.json", "report.html", "junit.xml", "events.csv", "series.csv"):
        assert (result.run_dir / name).stat().st_size > 0, name
    summary = json.loads((result.run_dir / SUMMARY).read_text())
    assert summary["verdict"] == "pass"
    assert int(summary["headline"]["jobs accepted"]) >= 20
    assert RunData.load(result.run_dir).events, "events.csv reads back"
    junit = (result.run_dir / "junit.xml").read_text()
    assert 'failures="0"' in junit


def test_cache_disabled_fails_the_hit_ratio_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(tmp_path, servers, stack_settings={"cache_enabled": False})
    _assert_fails(result, "cache")
    assert _observed(result, "cache") == 0.0


def test_a_slower_model_fails_the_processing_time_gates(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    # More users: in a closed model a slow model also slows the users down, and the gate
    # needs its ten samples after the warm-up. More items: with 4 the cache answered 95 % of
    # the scans after the warm-up once, and a p95 over all scans then falls on a hit.
    slow = '{ kind = "fixed", seconds = 6.0 }'
    result = _run(tmp_path, servers, stack=breaker_stack, latency=slow, users=12, items=20)
    _assert_fails(result, "processing")
    assert (_observed(result, "processing") or 0) > 5000


def test_a_failing_model_fails_the_failed_jobs_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    # More users: each failed job takes the classifier's retries and their backoff (some 5 s),
    # and the gate needs its ten samples after the warm-up.
    result = _run(tmp_path, servers, stack=breaker_stack, error_rate=1.0, users=12)
    _assert_fails(result, "failed")


def test_priority_removed_fails_the_queue_wait_gate(tmp_path: Path, servers: ServerUrls) -> None:
    """No batch worker: the AI worker consumes q.batch too, and each CPU-bound batch task holds
    its whole gevent pool while scans wait in q.ai."""
    result = _run(
        tmp_path,
        servers,
        workers=("ai", "api"),
        worker_args={"ai": ("--queues=q.ai,q.batch",)},
        users=8,
    )
    # Scans starve behind batch work (q.ai wait, and so the user's end-to-end time), and the
    # AI worker takes q.batch's messages as they come, so q.batch never even backs up.
    _assert_fails(result, "priority", "end_to_end", "backlog")
    assert (_observed(result, "priority") or 0) > 1000


def test_dropped_jobs_fail_the_lost_jobs_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(
        tmp_path, servers, stack=breaker_stack, faults=("drop-jobs",), drain_seconds=5.0, users=12
    )
    _assert_fails(result, "lost")
    assert int(result.summary["headline"]["jobs lost"]) > 0


def test_a_poison_flood_fails_the_dlq_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(tmp_path, servers, stack=breaker_stack, faults=("poison-flood",))
    _assert_fails(result, "dlq")
    assert (_observed(result, "dlq") or 0) > 100


def test_leaked_redis_connections_fail_the_clients_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(tmp_path, servers, stack=breaker_stack, faults=("redis-leak",))
    _assert_fails(result, "redis")


def test_a_corrupted_cache_fails_the_wrong_answer_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(tmp_path, servers, stack=breaker_stack, faults=("corrupt-cache",))
    _assert_fails(result, "wrong_from_cache", "wrong")


def test_a_too_loose_near_match_fails_the_wrong_answer_gate(
    tmp_path: Path, servers: ServerUrls
) -> None:
    # Re-photographs of 8 items, two look-alike pairs among them (soy milk pack and paper cup,
    # water bottle and green PET bottle): half the hash bits apart is no longer the same photo,
    # and with the colour check off (a threshold beyond the largest distance, 441.7) nothing
    # stops another item's answer from being served.
    result = _run(
        tmp_path,
        servers,
        items=8,
        variants="{ identical = 0.1, rephotographed = 0.9 }",
        stack_settings={"cache_near_radius": 32, "cache_near_colour_distance": 500},
    )
    _assert_fails(result, "wrong_from_cache", "wrong")
    # For the right reason: near hits served the wrong answers, not the exact cache or the model.
    exact, near, model = result.summary["headline"]["wrong answers (exact / near / model)"].split(
        " / "
    )
    assert (int(exact), int(model)) == (0, 0) and int(near) > 0, result.summary["headline"]


def test_s3_going_down_fails_the_error_ratio_gate(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    result = _run(tmp_path, servers, stack=breaker_stack, faults=("s3-down",), drain_seconds=5.0)
    _assert_fails(result, "errors")


def test_a_target_that_does_not_answer_is_a_harness_error(
    tmp_path: Path, servers: ServerUrls
) -> None:
    from harness.stack.processes import free_port

    with pytest.raises(HarnessError, match="does not answer"):
        _run(tmp_path, servers, target=f"http://127.0.0.1:{free_port()}")


def test_faults_need_a_local_stack(tmp_path: Path, servers: ServerUrls) -> None:
    with pytest.raises(HarnessError, match="local stack"):
        _run(tmp_path, servers, target="http://127.0.0.1:9", faults=("drop-jobs",))


def test_a_run_against_a_target_url_measures_the_app_side(
    tmp_path: Path, servers: ServerUrls, breaker_stack: LocalStack
) -> None:
    """A deployed stack (here the shared one, reset with the breaker's fakes) is driven
    through its URL only: client-side gates are judged, server-side gauges it cannot reach
    stay inconclusive."""
    breaker_stack.reset(fake_configs(load_scenario(_scenario(tmp_path))))
    result = _run(tmp_path, servers, target=breaker_stack.base_url, inconclusive_ok=True)
    verdicts = _verdicts(result)
    for key in ("processing", "end_to_end", "cache", "wrong_from_cache", "errors", "failed"):
        assert verdicts[key] is Verdict.PASS, (key, verdicts, result.summary["headline"])
    for key in ("dlq", "redis", "backlog"):  # the target's broker and Redis are not ours
        assert verdicts[key] is Verdict.INCONCLUSIVE, (key, verdicts)
    assert result.exit_code == 0  # inconclusive accepted on request
    assert any("batch flood skipped" in note for note in result.summary["notes"])


def test_a_build_slower_on_every_job_fails_the_stack_overhead_gate(
    tmp_path: Path, servers: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About 1 s more per job in the AI worker's S3 download, hits and misses alike."""
    _with_build(monkeypatch, "slow_jobs")
    result = _run(tmp_path, servers)
    _assert_fails(result, "overhead")
    assert (_observed(result, "overhead") or 0) > 1000
    # the stage times put the second where it went: every job's download
    assert min(_stage_times(result, "server_download_ms")) > 1000


def test_a_build_slower_on_cache_hits_fails_the_cache_hit_gate(
    tmp_path: Path, servers: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About 1 s more on every cache hit (decoding the cached answer); misses unchanged."""
    _with_build(monkeypatch, "slow_hits")
    result = _run(tmp_path, servers)
    _assert_fails(result, "hits")
    assert (_observed(result, "hits") or 0) > 1000
    assert min(_stage_times(result, "server_cache_lookup_ms", hit=True)) > 1000
    assert max(_stage_times(result, "server_cache_lookup_ms", hit=False)) < 1000


def _stage_times(result: RunResult, column: str, *, hit: bool | None = None) -> list[float]:
    done = [e for e in RunData.load(result.run_dir).events if e.get("status") == "done"]
    times = [
        e[column]
        for e in done
        if e.get(column) is not None and (hit is None or bool(e.get("cache_hit")) == hit)
    ]
    assert times, f"no finished scan carried {column}"
    return times


def _with_build(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Run the stack's child processes as the faulty build ``name`` (tests/harness/builds)."""
    for key, value in builds.environment(name).items():
        monkeypatch.setenv(key, value)


def test_a_build_without_rate_limits_fails_the_abusive_user_gate(
    tmp_path: Path, servers: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limits refuse nothing: the abusive user is served every analysis it asks for."""
    _with_build(monkeypatch, "no_limits")
    result = _run(tmp_path, servers)
    _assert_fails(result, "abuser")
    verdicts = _verdicts(result)
    assert verdicts["honest"] is verdicts["errors"] is Verdict.PASS, verdicts
    analyses = [
        r
        for r in RunData.load(result.run_dir).requests
        if r.get("actor") == "abuser" and r["name"] == "/api/v1/waste/analyze"
    ]
    assert len(analyses) > 60 and all(r["status"] == "201" for r in analyses)


def test_a_history_that_drops_scans_fails_the_history_gate(
    tmp_path: Path, servers: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_build(monkeypatch, "drop_history")
    result = _run(tmp_path, servers)
    # The statistics still count what the history leaves out, so they no longer add up.
    _assert_fails(result, "history", "stats")
    assert (_observed(result, "history") or 0) >= 3
    verdicts = _verdicts(result)
    assert verdicts["frozen"] is verdicts["status_result"] is Verdict.PASS, verdicts


def test_progress_frozen_until_done_fails_the_progress_gate(
    tmp_path: Path, servers: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_build(monkeypatch, "frozen_progress")
    result = _run(tmp_path, servers)
    _assert_fails(result, "frozen")
    assert (_observed(result, "frozen") or 0) >= 1
    verdicts = _verdicts(result)
    for key in ("history", "stats", "backwards", "status_result", "follow"):
        assert verdicts[key] is Verdict.PASS, (key, verdicts)


def test_a_compressed_scenario_scales_the_rate_limits(tmp_path: Path) -> None:
    import math

    from harness.run.runner import _stack_options
    from harness.scenario.loader import load_scenario
    from reference.common.settings import Settings

    path = Path(__file__).resolve().parents[3] / "scenarios" / "smoke.toml"
    scenario = load_scenario(path)
    options = _stack_options(scenario, RunOptions(path), tmp_path, ServerUrls())
    default = Settings.model_fields["limit_scans_per_minute"].default
    scale = scenario.load.time_scale
    assert scale < 1
    assert options.settings_overrides["limit_scans_per_minute"] == math.ceil(default / scale)


# -- the shared stack itself -----------------------------------------------------------


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
    assert _rows(stack, "auth.users") >= 1  # and the last run's users, if one ran before

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
