"""Property tests over the scenario schema: random valid files round-trip through TOML; random
bad values are refused with a message naming the file and the field."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario import Scenario, ScenarioError, parse_scenario, toml_writer, validate_scenario
from tests.harness.scenario.strategies import scenario_dicts

SOURCE = "scenarios/random.toml"
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(scenario_dicts())
def test_valid_scenarios_round_trip_through_toml(data: dict[str, Any]) -> None:
    from_text = parse_scenario(toml_writer.dumps(data), source=SOURCE)
    assert from_text == validate_scenario(data, source=SOURCE)
    # and what the model holds writes back to a file that reads the same
    dumped = from_text.model_dump(exclude_none=True)
    assert parse_scenario(toml_writer.dumps(dumped), source=SOURCE) == from_text


@SLOW
@given(scenario_dicts())
def test_scaled_view_is_the_written_timeline_times_the_scale(data: dict[str, Any]) -> None:
    scenario = validate_scenario(data)
    timeline = scenario.scaled()
    scale = scenario.load.time_scale
    assert abs(timeline.total_duration - scenario.total_duration) <= 1e-9 * max(
        1.0, scenario.total_duration
    )
    assert timeline.stages[0].start == 0.0
    for before, after in zip(timeline.stages, timeline.stages[1:], strict=False):
        assert before.end == after.start
    for stage, written in zip(timeline.stages, scenario.load.stages, strict=True):
        assert abs(stage.duration - written.duration * scale) <= 1e-9 * max(1.0, stage.end)
        assert stage.users == written.pool_size
        assert timeline.tick((stage.start + stage.end) / 2) in ((stage.users, stage.spawn_rate),)
    assert timeline.tick(timeline.total_duration) is None
    assert timeline.warmup == scenario.load.warmup * scale < timeline.total_duration


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = data
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[path[-1]] = value


def _shown(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


not_a_number = st.sampled_from(["fast", True, [1], {"a": 1}])
# (path builder, bad values, a fragment of the message)
MUTATIONS: list[tuple[Any, Any, str]] = [
    (
        lambda d, i: ("load", "stages", i % len(d["load"]["stages"]), "duration"),
        st.floats(max_value=0, allow_nan=False, allow_infinity=False),
        "must be > 0",
    ),
    (
        lambda d, i: ("load", "stages", i % len(d["load"]["stages"]), "duration"),
        st.sampled_from(["soon", "5 minutes", "90", "-5s"]),
        "is not a duration",
    ),
    (lambda d, i: ("load", "time_scale"), st.floats(max_value=0, allow_nan=False), "must be > 0"),
    (lambda d, i: ("load", "time_scale"), not_a_number, "must be a number"),
    (lambda d, i: ("load", "locust_processes"), st.integers(max_value=0), "must be >= 1"),
    (lambda d, i: ("load", "locust_processes"), st.integers(min_value=65), "must be <= 64"),
    (
        lambda d, i: ("load", "locust_processes"),
        st.floats(0.1, 10).filter(lambda f: f % 1),
        "must be",
    ),
    (
        lambda d, i: ("mix", "follow"),
        st.text(min_size=1).filter(lambda s: s not in ("poll", "stream")),
        "must be one of 'poll' or 'stream'",
    ),
    (
        lambda d, i: ("mix", "scan"),
        st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
        "must be >= 0",
    ),
    (lambda d, i: ("images", "items"), st.integers(min_value=45), "must be <= 44"),
    (lambda d, i: ("images", "items"), st.integers(max_value=0), "must be >= 1"),
    (
        lambda d, i: ("images", "repeat_probability"),
        st.floats(min_value=1.001, max_value=1e9),
        "must be <= 1",
    ),
    (lambda d, i: ("images", "zipf"), st.floats(max_value=-1e-9, min_value=-1e9), "must be >= 0"),
    (
        lambda d, i: ("fakes", "openai", "error_rate"),
        st.floats(min_value=1.001, max_value=9),
        "must be <= 1",
    ),
    (lambda d, i: ("fakes", "kakao", "error_rate"), not_a_number, "must be a number"),
    (
        lambda d, i: ("gates", i % len(d["gates"]), "metric"),
        st.sampled_from(["latency", "p95", "queue-wait", ""]),
        "unknown metric",
    ),
    (
        lambda d, i: ("gates", i % len(d["gates"]), "min_samples"),
        st.integers(max_value=0),
        "must be >= 1",
    ),
    (
        lambda d, i: ("gates", i % len(d["gates"]), "thresholds", 0),
        st.sampled_from(["p95 < 5", "avg =< 5", "p(0) < 5", "avg < ", "< 5", "max < 5 parsecs"]),
        "column",
    ),
]
TABLES: list[Any] = [
    lambda d, i: (),
    lambda d, i: ("load",),
    lambda d, i: ("load", "stages", i % len(d["load"]["stages"])),
    lambda d, i: ("mix",),
    lambda d, i: ("images",),
    lambda d, i: ("fakes", "openai"),
    lambda d, i: ("fakes", "kakao"),
    lambda d, i: ("gates", i % len(d["gates"])),
]


@SLOW
@given(
    scenario_dicts(),
    st.sampled_from(range(len(MUTATIONS))),
    st.integers(min_value=0, max_value=10),
    st.data(),
)
def test_bad_values_are_refused_naming_the_field(
    data: dict[str, Any], which: int, index: int, draw: st.DataObject
) -> None:
    build, values, fragment = MUTATIONS[which]
    bad = copy.deepcopy(data)
    path = build(bad, index)
    _set(bad, path, draw.draw(values))
    try:
        validate_scenario(bad, source=SOURCE)
    except ScenarioError as exc:
        lines = str(exc).splitlines()
        named = [line for line in lines if line.startswith(f"{SOURCE}: {_shown(path)}: ")]
        assert named, lines
        assert any(fragment in line for line in named), (fragment, named)
    else:
        raise AssertionError(f"{_shown(path)} = {bad!r} was accepted")


@SLOW
@given(
    scenario_dicts(),
    st.sampled_from(range(len(TABLES))),
    st.integers(min_value=0, max_value=10),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
)
def test_unknown_keys_are_named_as_such(
    data: dict[str, Any], which: int, index: int, key: str
) -> None:
    bad = copy.deepcopy(data)
    table = TABLES[which](bad, index)
    holder: Any = bad
    for part in table:
        holder = holder.setdefault(part, {}) if isinstance(part, str) else holder[part]
    if key in holder or key in _fields_at(table):
        return  # a real key, not an unknown one
    holder[key] = 1
    try:
        validate_scenario(bad, source=SOURCE)
    except ScenarioError as exc:
        expected = f"{SOURCE}: {_shown((*table, key))}: unknown key (allowed here: "
        assert any(line.startswith(expected) for line in str(exc).splitlines()), str(exc)
    else:
        raise AssertionError(f"unknown key {key!r} in {table} was accepted")


def _fields_at(table: tuple[str | int, ...]) -> set[str]:
    from harness.gates.model import Gate
    from harness.mocks.openai_config import MockOpenAIConfig
    from harness.scenario.model import Images, Kakao, Load, Mix, Stage

    models: dict[tuple[str, ...], Any] = {
        (): Scenario,
        ("load",): Load,
        ("load", "stages"): Stage,
        ("mix",): Mix,
        ("images",): Images,
        ("fakes", "openai"): MockOpenAIConfig,
        ("fakes", "kakao"): Kakao,
        ("gates",): Gate,
    }
    named = tuple(part for part in table if isinstance(part, str))
    return set(models[named].model_fields)
