"""The scenario model and loader: specific refusals with their exact messages, durations, the
scaled timeline, finding scenarios by name."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.mocks.openai_config import FixedLatency, LognormalLatency, UniformLatency
from harness.scenario import (
    Problem,
    ScenarioError,
    find_scenario,
    list_scenarios,
    load_scenario,
    parse_scenario,
)
from harness.scenario.durations import parse_duration, scale_distribution

HEADER = """
name = "peak"
description = "test"
"""
STAGES = """
[load]
warmup = 10
[[load.stages]]
duration = 60
users = 10
spawn_rate = 2
[[load.stages]]
duration = 120
users = 50
spawn_rate = 5
"""
GATES = """
[[gates]]
metric = "processing_time"
thresholds = ["p(95) < 5000"]
"""
VALID = HEADER + STAGES + GATES


def write(tmp_path: Path, text: str, name: str = "peak.toml") -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="scenarios/peak.toml")
    return str(caught.value).splitlines()


def test_the_briefs_example_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, VALID.replace("users = 50", "users = 0"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == "scenarios/peak.toml: load.stages[1].users: must be > 0, got 0"
    assert caught.value.source == "scenarios/peak.toml"
    assert caught.value.problems == [Problem("load.stages[1].users", "must be > 0, got 0")]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "users = 50",
            'users = "50"',
            "load.stages[1].users: must be an integer, got a string '50'",
        ),
        (
            "users = 50",
            "users = 50.5",
            "load.stages[1].users: must be an integer, got a float 50.5",
        ),
        (
            "users = 50",
            "users = true",
            "load.stages[1].users: must be an integer, got a boolean True",
        ),
        (
            "duration = 120",
            'duration = "2 min"',
            "load.stages[1].duration: '2 min' is not a duration",
        ),
        (
            "warmup = 10",
            "warmup = 180",
            "load.warmup: must be shorter than the stages' total of 180 s",
        ),
        (
            "warmup = 10",
            "warmup = 10\nspeed = 2",
            "load.speed: unknown key (allowed here: stages, time_scale, warmup, locust_processes, "
            "flow_timeout, photos_ahead)",
        ),
        (
            "users = 50\nspawn_rate = 5",
            "arrival_rate = 3.0",
            "load.stages[1]: all stages use one model; stage 0 is closed, this one is open",
        ),
        (
            "users = 50",
            "users = 50\narrival_rate = 2",
            "load.stages[1].arrival_rate: a stage has users (closed model) or arrival_rate (open "
            "model), not both",
        ),
        (
            "users = 50\nspawn_rate = 5",
            "",
            "load.stages[1]: give users and spawn_rate (closed model) or arrival_rate (open model)",
        ),
        ("spawn_rate = 5", "", "load.stages[1].spawn_rate: required with users"),
        (
            "users = 50",
            "users = 50\nmax_users = 9",
            "load.stages[1].max_users: only for open-model",
        ),
        (
            'metric = "processing_time"',
            'metric = "latency"',
            "gates[0].metric: unknown metric 'latency'; known: processing_time, end_to_end_time",
        ),
        (
            '"p(95) < 5000"',
            '"p(95) < 5000", "p95 <= 1"',
            "gates[0].thresholds[1]: 'p95 <= 1', column 1: unknown aggregation 'p95'; "
            "expected p(N), avg, min, max, med, count, rate, value",
        ),
        (
            '"p(95) < 5000"',
            '"rate < 0.1"',
            "gates[0].thresholds[0]: rate does not apply to "
            "processing_time, a trend metric; use avg, count, max, med, min, p(N)",
        ),
        ('["p(95) < 5000"]', "[]", "gates[0].thresholds: needs at least 1 entry"),
        ('name = "peak"', 'name = "Peak Hour"', "name: 'Peak Hour': use lowercase letters"),
        ('description = "test"', 'description = ""', "description: "),
    ],
)
def test_refusals_name_the_field(old: str, new: str, expected: str) -> None:
    assert old in VALID
    lines = errors_of(VALID.replace(old, new, 1))
    assert any(line.startswith(f"scenarios/peak.toml: {expected}") for line in lines), lines


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[mix]\nfollow = 'sse'", "mix.follow: must be one of 'poll' or 'stream', got 'sse'"),
        ("[mix]\nscan = 0", "mix: at least one of scan, browse_map, profile must weigh > 0"),
        ("[mix]\nthink_time = { low = 1 }", "mix.think_time: needs a 'kind' key"),
        (
            "[mix]\nthink_time = { kind = 'gauss' }",
            "mix.think_time: kind 'gauss' is not one of 'uniform', 'lognormal', 'fixed'",
        ),
        (
            "[mix]\nthink_time = { kind = 'uniform', low = 3, high = 1 }",
            "mix.think_time: low (3.0) must not exceed high (1.0)",
        ),
        (
            "[mix]\nthink_time = { kind = 'fixed', secs = 1 }",
            "mix.think_time.secs: unknown key (allowed here: kind, seconds)",
        ),
        ("[images]\nitems = 45", "images.items: must be <= 44, got 45"),
        (
            "[images]\nvariants = { identical = 0.5, cropped = 0.4 }",
            "images.variants: shares add up to 0.9; they must add up to 1",
        ),
        ("[images]\nvariants = { blurred = 1.0 }", "images.variants.blurred: unknown key"),
        ("[images]\nsize = [640, 8]", "images.size[1]: must be from 16 to 4096 pixels, got 8"),
        ("[images]\nsize = [640]", "images.size[1]: required"),
        (
            "[fakes.openai]\nerror_rate = 0.7\nrate_limit_rate = 0.5",
            "fakes.openai: fault rates add up to 1.200; they must total at most 1",
        ),
        (
            "[fakes.openai]\nlatency = { kind = 'lognormal', median = 0 }",
            "fakes.openai.latency.median: must be > 0, got 0",
        ),
        (
            "[fakes.openai]\nmodel = 'gpt-4o'",
            "fakes.openai.model: unknown key (allowed here: latency, classify_latency",
        ),
        (
            "[fakes.kakao]\nerror_rate = 'often'",
            "fakes.kakao.error_rate: must be a number, got a string 'often'",
        ),
        (
            "[background.batch]\ntask = 'image.analyze'\nrate = 1",
            "background.batch.task: must be one of 'analytics.daily' or 'report.generate'",
        ),
        (
            "[background.batch]\nrate = 1\nburst = 5",
            "background.batch: give either rate (tasks per second) or burst (a task count)",
        ),
        (
            "[background.batch]\nburst = 5\nstart = '3m'",
            "background.batch.start: must be before the end of the stages (180 s)",
        ),
        ("[background.flood]\nburst = 5", "background.flood: unknown key (allowed here: batch)"),
        (
            "[reports]\nformat = 'html'",
            "reports: unknown key (allowed here: name, description, "
            "seed, load, mix, images, fakes, background, faults, gates)",
        ),
    ],
)
def test_refusals_in_every_table(extra: str, expected: str) -> None:
    lines = errors_of(VALID + "\n" + extra + "\n")
    assert any(line.startswith(f"scenarios/peak.toml: {expected}") for line in lines), lines


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "[[gates]]\nmetric = 'queue_wait'\ntags = { queu = 'q.ai' }\nthresholds = ['max < 1']",
            "gates[1].tags.queu: queue_wait observations carry no tag 'queu' (queue, task)",
        ),
        (
            "[[gates]]\nmetric = 'queue_wait'\ntags = { queue = 'q.aii' }\n"
            "thresholds = ['max < 1']",
            "gates[1].tags.queue: 'q.aii' is not one of q.ai, q.api, q.batch, q.dlq, q.sched",
        ),
        (
            "[[gates]]\nmetric = 'dlq_length'\nthresholds = ['max < 1s']",
            "gates[1].thresholds[0]: dlq_length is measured in messages; "
            "a time unit does not apply",
        ),
        (
            "[[gates]]\nmetric = 'lost_jobs'\nthresholds = ['count == 0']\nmin_samples = 0",
            "gates[1].min_samples: must be >= 1, got 0",
        ),
        (
            "[[gates]]\nmetric = 'lost_jobs'\nthresholds = ['rate < 0.01']\nabort_on_fail = true",
            "gates[1].abort_on_fail: only for bounds that stay broken once broken (count or max "
            "upper bounds, count == 0, min lower bounds); rate < 0.01 could still mend",
        ),
        (
            "[[gates]]\nmetric = 'lost_jobs'\nthresholds = ['count == 0']\nabort_on_fial = true",
            "gates[1].abort_on_fial: unknown key (allowed here: metric, thresholds, tags, name, "
            "min_samples, include_warmup, abort_on_fail)",
        ),
        (
            "[[gates]]\nmetric = 'lost_jobs'\nthresholds = 'count == 0'",
            "gates[1].thresholds: must be an array, got a string 'count == 0'",
        ),
    ],
)
def test_gate_refusals(extra: str, expected: str) -> None:
    lines = errors_of(VALID + "\n" + extra + "\n")
    assert any(line.startswith(f"scenarios/peak.toml: {expected}") for line in lines), lines


def test_every_problem_is_reported_one_per_line() -> None:
    lines = errors_of(
        VALID.replace("users = 50", "users = -1").replace("warmup = 10", "warmup = -1")
        + "\n[mix]\nfollow = 'sse'\n"
    )
    assert lines == [
        "scenarios/peak.toml: load.stages[1].users: must be > 0, got -1",
        "scenarios/peak.toml: load.warmup: must be >= 0, got -1",
        "scenarios/peak.toml: mix.follow: must be one of 'poll' or 'stream', got 'sse'",
    ]


def test_missing_tables_are_required() -> None:
    assert errors_of(HEADER) == [
        "scenarios/peak.toml: load: required",
        "scenarios/peak.toml: gates: required",
    ]


def test_not_toml_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert errors_of("name = \nx = 1")[0] == (
        "scenarios/peak.toml: not valid TOML: Invalid value (at line 1, column 8)"
    )
    with pytest.raises(ScenarioError, match=r"^scenarios/gone.toml: no such file$"):
        load_scenario(Path("scenarios/gone.toml"))
    broken = write(tmp_path, "name = 'x'\n", name="bytes.toml")
    broken.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError, match=r"^scenarios/bytes.toml: cannot read it"):
        load_scenario(broken)


def test_find_scenario_by_name_or_path(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    folder = path.parent
    assert list_scenarios(folder) == {"peak": path}
    assert find_scenario("peak", folder) == path
    assert find_scenario(str(path)) == path
    assert load_scenario(find_scenario("peak", folder)).name == "peak"
    with pytest.raises(ScenarioError, match=r"no scenario of that name in .*\(known: peak\)"):
        find_scenario("soak", folder)
    with pytest.raises(ScenarioError, match="no such file"):
        find_scenario(str(folder / "soak.toml"))
    assert find_scenario("smoke").name == "smoke.toml"


# -- durations and the timeline -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1h", 3600.0),
        ("1.5m", 90.0),
        ("2m 30s", 150.0),
        ("1h1m1s1ms", 3661.001),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration(42) == 42  # numbers are seconds, checked by the field


def test_durations_in_a_file() -> None:
    scenario = parse_scenario(VALID.replace("duration = 120", 'duration = "2m"'))
    assert scenario.load.stages[1].duration == 120.0


def test_scaled_timeline() -> None:
    text = VALID.replace(
        "[load]", "[load]\ntime_scale = 0.5\nlocust_processes = 2"
    ) + textwrap.dedent(
        """
        [mix]
        think_time = { kind = "lognormal", median = 4, sigma = 0.5, cap = 20 }
        [background.batch]
        rate = 2.0
        work_seconds = 30
        start = "1m"
        """
    )
    scenario = parse_scenario(text)
    assert scenario.total_duration == 90.0 and scenario.warmup == 5.0
    timeline = scenario.scaled()
    assert [(s.start, s.end, s.users, s.spawn_rate) for s in timeline.stages] == [
        (0.0, 30.0, 10, 4.0),  # spawn rates double when time runs twice as fast
        (30.0, 90.0, 50, 10.0),
    ]
    assert timeline.measured == (5.0, 90.0)
    assert timeline.tick(0.0) == (10, 4.0)
    assert timeline.tick(29.999) == (10, 4.0)
    assert timeline.tick(30.0) == (50, 10.0)
    assert timeline.tick(90.0) is None
    assert timeline.arrival_rate_at(10.0) is None
    assert timeline.think_time == LognormalLatency(median=2.0, sigma=0.5, cap=10.0)
    assert timeline.poll_interval == 0.5  # the app's behaviour: not scaled
    assert timeline.batch is not None
    assert (timeline.batch.rate, timeline.batch.start, timeline.batch.work_seconds) == (
        2.0,
        30.0,
        15.0,
    )


def test_open_model_timeline() -> None:
    text = (
        HEADER
        + GATES
        + textwrap.dedent(
            """
        [load]
        time_scale = 0.1
        [[load.stages]]
        duration = 100
        arrival_rate = 2.0
        [[load.stages]]
        duration = 100
        arrival_rate = 5.0
        max_users = 40
        spawn_rate = 1
        """
        )
    )
    scenario = parse_scenario(text)
    assert scenario.load.model == "open"
    first, second = scenario.scaled().stages
    assert (first.users, first.spawn_rate, first.arrival_rate) == (60, 60.0, 2.0)
    assert (second.users, second.spawn_rate, second.arrival_rate) == (40, 10.0, 5.0)
    assert scenario.scaled().arrival_rate_at(15.0) == 5.0


def test_scale_distribution() -> None:
    assert scale_distribution(UniformLatency(low=1, high=3), 0.5) == UniformLatency(
        low=0.5, high=1.5
    )
    assert scale_distribution(FixedLatency(seconds=2), 3) == FixedLatency(seconds=6)


def test_scenarios_are_frozen() -> None:
    scenario = parse_scenario(VALID)
    with pytest.raises(Exception, match="frozen"):
        scenario.name = "other"  # type: ignore[misc]


def test_defaults() -> None:
    scenario = parse_scenario(VALID)
    assert scenario.mix.weights() == {"scan": 1.0, "browse_map": 0.0, "profile": 0.0}
    assert scenario.mix.follow == "poll" and scenario.mix.poll_interval == 0.5
    assert scenario.images.variants.shares()["identical"] == 1.0
    assert scenario.fakes.openai.latency == UniformLatency(low=2.0, high=5.0)
    assert scenario.background.batch is None
    assert scenario.load.locust_processes == 1 and scenario.load.time_scale == 1.0


def test_batch_tasks_are_the_topologys() -> None:
    from typing import get_args

    from harness.scenario.model import BatchFlood
    from reference.common import topology

    annotation = BatchFlood.model_fields["task"].annotation
    assert set(get_args(annotation)) == set(topology.BATCH.tasks)


SCALED_MODEL = "\n[fakes.openai]\ntime_scale = 0.1\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "[[gates]]\nmetric = 'stage_time'\ntags = { stage = 'decode' }\n"
            "thresholds = ['p(95) < 100']",
            "gates[1].tags.stage: 'decode' is not one of cache_lookup, download, model, "
            "queue_wait, store",
        ),
        (
            "[[gates]]\nmetric = 'stack_overhead'\nthresholds = ['p(95) < 300 * model_scale']",
            "gates[1].thresholds[0]: stack_overhead does not contain the model's latency, so it "
            "does not scale with model_scale; write its bound in real ms",
        ),
        (
            "[[gates]]\nmetric = 'server_processing_time'\ntags = { cache = 'hit' }\n"
            "thresholds = ['p(95) < 500', 'p(99) < 1000 * model_scale + 100']",
            "gates[1].thresholds[1]: server_processing_time{cache=hit} does not contain the "
            "model's latency",
        ),
        (
            "[[gates]]\nmetric = 'stage_time'\ntags = { stage = 'download' }\n"
            "thresholds = ['p(95) < 1s * model_scale']",
            "gates[1].thresholds[0]: stage_time{stage=download} does not contain the model's",
        ),
        (
            "[[gates]]\nmetric = 'cache_hit_ratio'\nthresholds = ['rate >= 0.7 * model_scale']",
            "gates[1].thresholds[0]: model_scale scales times; rate of cache_hit_ratio is not one",
        ),
        (
            "[[gates]]\nmetric = 'processing_time'\nthresholds = ['count > 10 * model_scale']",
            "gates[1].thresholds[0]: model_scale scales times; count of processing_time",
        ),
        (
            "[[gates]]\nmetric = 'processing_time'\nthresholds = ['p(95) < 5000 * load_scale']",
            "gates[1].thresholds[0]: 'p(95) < 5000 * load_scale', column 16: expected a scale "
            "(model_scale) after '*', found 'load_scale'",
        ),
    ],
)
def test_scaled_bound_refusals(extra: str, expected: str) -> None:
    lines = errors_of(VALID + "\n" + extra + "\n")
    assert any(line.startswith(f"scenarios/peak.toml: {expected}") for line in lines), lines


def test_a_scaled_model_needs_scaled_bounds_on_the_models_latency() -> None:
    """smoke's old mistake: the seed's absolute 5 s judged against a model ten times faster."""
    lines = errors_of(VALID + SCALED_MODEL)
    assert lines == [
        "scenarios/peak.toml: gates[0].thresholds[0]: processing_time contains the model's "
        "latency, which fakes.openai.time_scale = 0.1 scales; write the bound at the seed's "
        "scale times model_scale, e.g. 'p(95) < 5000 * model_scale + 500'"
    ]
    scaled = VALID.replace("p(95) < 5000", "p(95) < 5000 * model_scale + 500") + SCALED_MODEL
    scenario = parse_scenario(scaled)
    assert scenario.scales == {"model_scale": 0.1}
    assert scenario.gates[0].thresholds[0].bound_ms(scenario.scales) == pytest.approx(1000)


@pytest.mark.parametrize(
    ("gate", "model_time"),
    [
        ("metric = 'processing_time'\ntags = { cache = 'hit' }", False),
        ("metric = 'end_to_end_time'\ntags = { cache = 'hit' }", False),
        ("metric = 'stack_overhead'", False),
        ("metric = 'queue_wait'", False),
        ("metric = 'stage_time'\ntags = { stage = 'store' }", False),
        ("metric = 'stage_time'\ntags = { stage = 'model' }", True),
        ("metric = 'stage_time'", True),
        ("metric = 'server_processing_time'\ntags = { cache = 'miss' }", True),
        ("metric = 'end_to_end_time'", True),
    ],
)
def test_which_bounds_must_scale_with_the_model(gate: str, model_time: bool) -> None:
    text = VALID + SCALED_MODEL.replace("time_scale = 0.1", "time_scale = 0.5")
    text = text.replace(GATES, "")
    unscaled = f"{text}\n[[gates]]\n{gate}\nthresholds = ['p(95) < 700']\n"
    scaled = f"{text}\n[[gates]]\n{gate}\nthresholds = ['p(95) < 700 * model_scale + 1s']\n"
    if model_time:
        assert "fakes.openai.time_scale = 0.5 scales" in errors_of(unscaled)[0]
        assert parse_scenario(scaled).gates[0].thresholds[0].bound_ms({"model_scale": 0.5}) == 1350
    else:
        assert parse_scenario(unscaled).gates[0].thresholds[0].scale is None
        assert "does not contain the model's latency" in errors_of(scaled)[0]


@pytest.mark.parametrize(
    ("mix", "metric", "expected"),
    [
        (
            'follow = "poll"',
            "follow_mismatch",
            "gates[1].metric: follow_mismatch is measured on scans followed both ways and this "
            "scenario has none; set mix.follow_both above 0",
        ),
        (
            'follow = "stream"',
            "progress_frozen",
            "gates[1].metric: progress_frozen is measured on polled scans and this scenario has "
            'none; set mix.follow = "poll", or mix.follow_both above 0',
        ),
        (
            "scan = 0\nprofile = 1",
            "history_missing",
            "gates[1].metric: history_missing is measured on scans and this scenario has none; "
            "give mix.scan a weight above 0",
        ),
    ],
)
def test_a_gate_whose_data_the_scenario_cannot_give_is_refused(
    mix: str, metric: str, expected: str
) -> None:
    gate = f"[[gates]]\nmetric = '{metric}'\nthresholds = ['count == 0']\n"
    lines = errors_of(VALID + "\n" + gate + f"\n[mix]\n{mix}\n")
    assert any(line.startswith(f"scenarios/peak.toml: {expected}") for line in lines), lines


def test_a_gate_whose_data_the_scenario_gives_is_accepted() -> None:
    gates = "".join(
        f"[[gates]]\nmetric = '{metric}'\nthresholds = ['count == 0']\n"
        for metric in ("follow_mismatch", "progress_frozen", "stats_mismatch")
    )
    # a stream scenario still has a poller's view through the scans followed both ways
    scenario = parse_scenario(VALID + gates + '\n[mix]\nfollow = "stream"\nfollow_both = 0.1\n')
    assert scenario.mix.follow_both == 0.1
    # statistics are checked per user, with or without scans
    stats_only = "[[gates]]\nmetric = 'stats_mismatch'\nthresholds = ['count == 0']\n"
    no_scans = parse_scenario(VALID + stats_only + "\n[mix]\nscan = 0\nprofile = 1\n")
    assert no_scans.gates[-1].metric == "stats_mismatch"
