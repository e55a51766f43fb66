"""A scenario split over Locust processes: every user, rate and photo accounted for once."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scenario import find_scenario, load_scenario, parse_scenario
from loadtests.plan import ProcessPlan, integer_weights
from tests.loadtests.factories import closed_stage, open_stage, scenario_toml


@given(users=st.integers(1, 600), processes=st.integers(1, 8), spawn=st.floats(0.1, 50))
@settings(max_examples=30, deadline=None)
def test_closed_users_and_spawn_rates_add_up(users: int, processes: int, spawn: float) -> None:
    scenario = parse_scenario(
        scenario_toml(stages=closed_stage("1m", users, spawn) + closed_stage("30s", 1, 1))
    )
    plans = [ProcessPlan.of(scenario, i, processes) for i in range(processes)]
    assert sum(p.stages[0].users for p in plans) == users
    assert sum(p.stages[0].spawn_rate for p in plans) == pytest.approx(spawn)
    assert {p.model for p in plans} == {"closed"}
    assert plans[0].stage_at(59.9) == plans[0].stages[0]
    assert plans[0].stage_at(90.0) is None


def test_open_rates_split_and_pools_stay_constant() -> None:
    scenario = parse_scenario(
        scenario_toml(stages=open_stage("20s", 9.0, 7) + open_stage("20s", 3.0, 2), processes=3)
    )
    plans = [ProcessPlan.of(scenario, i) for i in range(3)]
    assert [p.processes for p in plans] == [3, 3, 3]
    assert sum(p.stages[0].arrival_rate or 0 for p in plans) == pytest.approx(9.0)
    assert [p.open_pool for p in plans] == [3, 2, 2]  # the first stage's 7, kept throughout
    schedules = [p.arrivals(0.0) for p in plans]
    total = 0
    for schedule in schedules:
        while schedule.claim() is not None:
            total += 1
    assert total == 9 * 20 + 3 * 20


def test_time_scale_override_shortens_the_timeline() -> None:
    scenario = parse_scenario(scenario_toml(stages=closed_stage("100s", 4, 2)))
    plan = ProcessPlan.of(scenario, time_scale=0.1)
    assert plan.duration == pytest.approx(10.0)
    assert plan.processes == 2  # from the scenario's locust_processes


def test_processes_draw_photos_from_disjoint_id_spaces() -> None:
    scenario = parse_scenario(scenario_toml(stages=closed_stage("10s", 2, 2), processes=2))
    streams = [ProcessPlan.of(scenario, i).photo_stream() for i in range(2)]
    new = [
        {spec.photo_id for spec in (s.next_spec() for _ in range(100)) if not spec.is_repeat}
        for s in streams
    ]
    assert streams[0].weights == streams[1].weights
    assert new[0] and new[1] and not new[0] & new[1]


def test_a_salt_gives_a_run_its_own_photos() -> None:
    scenario = parse_scenario(scenario_toml(stages=closed_stage("10s", 2, 2)))
    plan = ProcessPlan.of(scenario)

    def photos(salt: str) -> list[str]:
        stream = plan.photo_stream(salt)
        return [stream.next().sha256 for _ in range(5)]

    assert plan.photo_seed("") == scenario.seed
    assert photos("run-1") == photos("run-1")
    assert not set(photos("run-1")) & set(photos("run-2"))
    assert not set(photos("")) & set(photos("run-1"))


def test_bad_process_index_is_refused() -> None:
    scenario = parse_scenario(scenario_toml(stages=closed_stage("10s", 2, 2)))
    with pytest.raises(ValueError, match="process must be"):
        ProcessPlan.of(scenario, 2, 2)


def test_only_the_locust_modules_import_locust() -> None:
    # What the harness imports (the local workers' launcher, the protocol, the files, the
    # measurements) must not gevent-patch the process that imports it (pytest, the harness):
    # checked in a fresh interpreter, with the harness's run module itself.
    code = (
        "import sys\n"
        "import loadtests, loadtests.launch, loadtests.protocol, loadtests.files, loadtests.plan\n"
        "import loadtests.flows, loadtests.records, loadtests.pacing, harness.app.corpus\n"
        "import harness.run.runner, harness.run.load, harness.cli, harness.providers.kind\n"
        "assert 'locust' not in sys.modules, 'locust was imported'\n"
        "import gevent.monkey\n"
        "assert not gevent.monkey.is_module_patched('socket'), 'socket is patched'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"scan": 8, "browse_map": 1, "profile": 1}, {"scan": 8, "browse_map": 1, "profile": 1}),
        ({"scan": 0.6, "browse_map": 0.2, "profile": 0.0}, {"scan": 3, "browse_map": 1}),
        ({"scan": 1.0, "browse_map": 0.0, "profile": 0.0}, {"scan": 1}),
    ],
)
def test_mix_weights_become_locust_task_weights(
    weights: dict[str, float], expected: dict[str, int]
) -> None:
    assert integer_weights(weights) == expected


def _simulated_draws(plan: ProcessPlan, seed: int) -> int:
    """Photos a closed-model process's users draw when actions take no time (as a worker's
    users do: one held from the start, another after each scan while the load goes on)."""
    rng = random.Random(seed)
    names, weights = zip(*plan.weights.items(), strict=True)
    stage = plan.stages[0]
    draws = 0
    for user in range(max(s.users for s in plan.stages)):
        t, end = user / stage.spawn_rate, plan.duration
        draws += 1
        while t < end:
            if rng.choices(names, weights)[0] == "scan":
                t += plan.think_time.sample(rng)
                draws += t < end
            else:
                t += plan.think_time.sample(rng)
    return draws


@pytest.mark.parametrize("name", ["peak", "capacity"])
def test_the_photos_rendered_ahead_cover_what_the_users_draw(name: str) -> None:
    # Actions taken as instant draw the most photos; the estimate stays above every simulated
    # count and within a third of their mean (rendering ahead costs the run's start).
    plan = ProcessPlan.of(load_scenario(find_scenario(name)), 0)
    simulated = [_simulated_draws(plan, seed) for seed in range(5)]
    needed = plan.photos_needed()
    assert max(simulated) <= needed <= 1.33 * statistics.mean(simulated)


def test_nothing_is_rendered_ahead_without_scans_and_open_loads_count_arrivals() -> None:
    browse = parse_scenario(
        scenario_toml(stages=closed_stage("1m", 4, 2), mix="scan = 0\nbrowse_map = 1")
    )
    assert ProcessPlan.of(browse, 0, 1).photos_needed() == 0
    arrivals = parse_scenario(scenario_toml(stages=open_stage("100s", 2.0, 5), processes=1))
    # 200 arrivals, every one a scan, and the pool's 5 users each hold one photo.
    assert ProcessPlan.of(arrivals, 0).photos_needed() == math.ceil(220 + 3 * math.sqrt(200)) + 5
