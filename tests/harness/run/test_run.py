"""The release gate on real runs: each gate fails when the property it guards is broken.

Every test runs a short scenario (``breaker``, about 20 s of load) against a local stack in its
own sandbox through :func:`harness.run.runner.run`, with one thing broken: the cache disabled, the
model slowed down or failing, priority removed (the AI worker also consumes q.batch), jobs
dropped by a rogue consumer, q.dlq flooded, Redis connections leaked, the cache corrupted, S3
gone. The control run, with nothing broken, passes every gate; so the failures below come from
the breakage, not from the scenario.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.gates.evaluate import Verdict
from harness.report.rundata import SUMMARY, RunData
from harness.run.runner import HarnessError, RunOptions, RunResult, run
from harness.stack.sandbox import ServerUrls
from tests.harness import builds

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

FAST_MODEL = '{ kind = "uniform", low = 0.2, high = 0.4 }'

BREAKER = """
name = "breaker"
description = "A short run with every standard gate, for breaking one property at a time"
seed = 7

[load]
time_scale = 1.0
warmup = "4s"
locust_processes = 1

[[load.stages]]
duration = "16s"
users = {all_users}   # {users} honest users and one abusive (the last: mix.abusive)
spawn_rate = {all_users}

[mix]
scan = 8
browse_map = 1
profile = 1
follow = "poll"
think_time = {{ kind = "uniform", low = 0.2, high = 0.5 }}
# A poller every 0.1 s reads a 0.2-0.4 s model call mid-way (the frozen-progress gate's data);
# a fifth of the scans are also streamed, to compare both results.
poll_interval = 0.1
follow_both = 0.2
# One abusive user asks for 10 analyses a second: past the 30 a minute within 3 s.
abusive = {abusive}
abuse_rate = 10.0

[images]
items = {items}
zipf = 1.0
repeat_probability = 0.95
variants = {variants}
size = [160, 120]

[fakes.openai]
latency = {latency}
error_rate = {error_rate}
seed = 7

[background.batch]
task = "analytics.daily"
burst = 4
work_seconds = "4s"
start = "8s"

[[gates]]
name = "p95 processing time under 5 s"
metric = "processing_time"
thresholds = ["p(95) < 5000"]
min_samples = 10

[[gates]]
name = "p95 end-to-end time under 10 s"
metric = "end_to_end_time"
thresholds = ["p(95) < 10000"]
min_samples = 10

[[gates]]
name = "cache hit ratio at least 70 %"
metric = "cache_hit_ratio"
thresholds = ["rate >= 0.70"]
min_samples = 10

[[gates]]
name = "no wrong answer from the cache"
metric = "wrong_answers"
tags = {{ cache = "hit" }}
thresholds = ["count == 0"]
min_samples = 5
include_warmup = true

[[gates]]
name = "no wrong answer at all"
metric = "wrong_answers"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "q.batch really had a backlog"
metric = "queue_depth"
tags = {{ queue = "q.batch" }}
# One batch process takes one of the 4 at a time: 3 ready for 4 s, then 2 for 4 s. RabbitMQ
# refreshes its queue statistics every 5 s, so a sample is sure to see 2, not 3.
thresholds = ["max >= 2"]
include_warmup = true

[[gates]]
name = "q.ai wait stays low while q.batch is busy"
metric = "queue_wait"
tags = {{ queue = "q.ai" }}
thresholds = ["p(95) < 1000"]
min_samples = 10

[[gates]]
name = "request error ratio under 1 %"
metric = "error_ratio"
thresholds = ["rate < 0.01"]
min_samples = 50

[[gates]]
name = "no honest request refused by a rate limit"
metric = "honest_rate_limited"
thresholds = ["count == 0"]
min_samples = 50
include_warmup = true

[[gates]]
name = "the abusive user is refused with scan_rate_limited"
metric = "abuser_not_limited"
thresholds = ["count == 0"]
min_samples = 1
include_warmup = true

[[gates]]
name = "failed jobs under 1 %"
metric = "failed_jobs"
thresholds = ["rate < 0.01"]
min_samples = 10

[[gates]]
name = "no job lost"
metric = "lost_jobs"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "q.dlq under its alert bound"
metric = "dlq_length"
thresholds = ["max <= 100"]
include_warmup = true

[[gates]]
name = "Redis clients bounded"
metric = "redis_clients"
thresholds = ["max < 200"]
include_warmup = true

[[gates]]
name = "p95 stack overhead under 700 ms"
metric = "stack_overhead"
thresholds = ["p(95) < 700"]
min_samples = 10

[[gates]]
name = "cache hits answered within the seed's ~1 s"
metric = "server_processing_time"
tags = {{ cache = "hit" }}
thresholds = ["p(95) < 700"]
min_samples = 10

[[gates]]
name = "every finished scan in the user's history"
metric = "history_missing"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "statistics add up to the history"
metric = "stats_mismatch"
thresholds = ["count == 0"]
min_samples = {users}
include_warmup = true

[[gates]]
name = "progress never goes backwards"
metric = "progress_backwards"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "a miss shows progress between queued and done"
metric = "progress_frozen"
thresholds = ["count == 0"]
min_samples = 3
include_warmup = true

[[gates]]
name = "stream and polling give the same result"
metric = "follow_mismatch"
thresholds = ["count == 0"]
min_samples = 5
include_warmup = true

[[gates]]
name = "status and result agree"
metric = "status_result_mismatch"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true
"""

GATES = {
    "processing": "p95 processing time under 5 s",
    "end_to_end": "p95 end-to-end time under 10 s",
    "cache": "cache hit ratio at least 70 %",
    "wrong_from_cache": "no wrong answer from the cache",
    "wrong": "no wrong answer at all",
    "backlog": "q.batch really had a backlog",
    "priority": "q.ai wait stays low while q.batch is busy",
    "errors": "request error ratio under 1 %",
    "honest": "no honest request refused by a rate limit",
    "abuser": "the abusive user is refused with scan_rate_limited",
    "failed": "failed jobs under 1 %",
    "lost": "no job lost",
    "dlq": "q.dlq under its alert bound",
    "redis": "Redis clients bounded",
    "overhead": "p95 stack overhead under 700 ms",
    "hits": "cache hits answered within the seed's ~1 s",
    "history": "every finished scan in the user's history",
    "stats": "statistics add up to the history",
    "backwards": "progress never goes backwards",
    "frozen": "a miss shows progress between queued and done",
    "follow": "stream and polling give the same result",
    "status_result": "status and result agree",
}


IDENTICAL = "{ identical = 1.0 }"


def breaker_toml(
    *,
    latency: str = FAST_MODEL,
    error_rate: float = 0.0,
    users: int = 4,
    items: int = 4,
    variants: str = IDENTICAL,
) -> str:
    """The breaker scenario with ``users`` honest users and one abusive user more."""
    return BREAKER.format(
        latency=latency,
        error_rate=error_rate,
        users=users,
        all_users=users + 1,
        abusive=1 / (users + 1),
        items=items,
        variants=variants,
    )


# The breaker scenario's knobs (breaker_toml's keywords) among _run's options.
SCENARIO_KNOBS = ("latency", "error_rate", "users", "items", "variants")


def _scenario(folder: Path, **knobs: Any) -> Path:
    path = folder / "breaker.toml"
    path.write_text(breaker_toml(**knobs))
    return path


def _run(tmp_path: Path, servers: ServerUrls, **options: Any) -> RunResult:
    knobs = {name: options.pop(name) for name in SCENARIO_KNOBS if name in options}
    options.setdefault("workers", ("ai", "api", "batch"))  # api: the map search
    options.setdefault("seed_replicas", False)  # one process per worker: a quicker start
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
    tmp_path: Path, servers: ServerUrls
) -> None:
    result = _run(tmp_path, servers)
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
    tmp_path: Path, servers: ServerUrls
) -> None:
    # More users: in a closed model a slow model also slows the users down, and the gate
    # needs its ten samples after the warm-up.
    result = _run(tmp_path, servers, latency='{ kind = "fixed", seconds = 6.0 }', users=12)
    _assert_fails(result, "processing")
    assert (_observed(result, "processing") or 0) > 5000


def test_a_failing_model_fails_the_failed_jobs_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(
        tmp_path,
        servers,
        error_rate=1.0,
        stack_settings={"openai_backoff_initial_seconds": 0.05, "openai_backoff_max_seconds": 0.1},
    )
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


def test_dropped_jobs_fail_the_lost_jobs_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(tmp_path, servers, faults=("drop-jobs",), drain_seconds=5.0, users=12)
    _assert_fails(result, "lost")
    assert int(result.summary["headline"]["jobs lost"]) > 0


def test_a_poison_flood_fails_the_dlq_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(tmp_path, servers, faults=("poison-flood",))
    _assert_fails(result, "dlq")
    assert (_observed(result, "dlq") or 0) > 100


def test_leaked_redis_connections_fail_the_clients_gate(
    tmp_path: Path, servers: ServerUrls
) -> None:
    result = _run(tmp_path, servers, faults=("redis-leak",))
    _assert_fails(result, "redis")


def test_a_corrupted_cache_fails_the_wrong_answer_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(tmp_path, servers, faults=("corrupt-cache",))
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


def test_s3_going_down_fails_the_error_ratio_gate(tmp_path: Path, servers: ServerUrls) -> None:
    result = _run(tmp_path, servers, faults=("s3-down",), drain_seconds=5.0)
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
    tmp_path: Path, servers: ServerUrls
) -> None:
    """A deployed stack (here one brought up beside the run) is driven through its URL only:
    client-side gates are judged, server-side gauges it cannot reach stay inconclusive."""
    from harness.stack.local import LocalStack, StackOptions

    stack_options = StackOptions(
        servers=servers,
        run_dir=tmp_path / "stack",
        workers=("ai", "api"),
        openai_args=("--latency", "uniform:0.2:0.4"),
    )
    with LocalStack(stack_options) as stack:
        result = _run(tmp_path, servers, target=stack.base_url, inconclusive_ok=True)
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
