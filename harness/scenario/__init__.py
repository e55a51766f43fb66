"""Scenarios: declarative load, workload, fakes and gates, read from ``scenarios/*.toml``.

``load_scenario(path)`` or ``load_scenario(find_scenario("smoke"))`` gives a validated, frozen
:class:`Scenario`; ``scenario.scaled()`` its real timeline; ``scenario.evaluate(samples)`` the
gates' verdicts. The schema is :mod:`harness.scenario.model`; what ``[images]`` means is
:mod:`harness.scenario.workload`.
"""

from harness.scenario.loader import (
    SCENARIOS_DIR,
    Problem,
    ScenarioError,
    find_scenario,
    list_scenarios,
    load_scenario,
    parse_scenario,
    validate_scenario,
)
from harness.scenario.model import (
    BatchFlood,
    Images,
    Kakao,
    Load,
    Mix,
    Scenario,
    Stage,
    Variants,
)
from harness.scenario.scaled import ScaledBatch, ScaledScenario, ScaledStage
from harness.scenario.workload import (
    expected_hit_ratio,
    photo_stream,
    steady_hit_ratio,
)

__all__ = [
    "SCENARIOS_DIR",
    "BatchFlood",
    "Images",
    "Kakao",
    "Load",
    "Mix",
    "Problem",
    "ScaledBatch",
    "ScaledScenario",
    "ScaledStage",
    "Scenario",
    "ScenarioError",
    "Stage",
    "Variants",
    "expected_hit_ratio",
    "find_scenario",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "photo_stream",
    "steady_hit_ratio",
    "validate_scenario",
]
