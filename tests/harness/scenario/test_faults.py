"""``[[faults]]``: each bad fault is refused before the run starts, with the field named."""

from __future__ import annotations

import pytest

from harness.scenario import ScenarioError, parse_scenario
from harness.scenario.faults import owned_servers, proxied_servers

BASE = """
name = "f"
description = "faults"
[load]
time_scale = 0.5
[[load.stages]]
duration = "100s"
users = 2
spawn_rate = 2
[[gates]]
metric = "lost_jobs"
thresholds = ["count == 0"]
"""


def _parse(*faults: str):
    return parse_scenario(BASE + "".join(f"[[faults]]\n{f}\n" for f in faults))


def _refusal(*faults: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        _parse(*faults)
    return str(caught.value)


def test_a_valid_timeline_reads_with_its_targets() -> None:
    scenario = _parse(
        'kind = "worker-kill"\nat = "10s"\nduration = "5s"\ntarget = "ai"\nreplica = 2',
        'kind = "broker-restart"\nat = "20s"\nduration = "10s"',
        'kind = "latency"\nat = "40s"\nduration = "10s"\ntarget = "redis"\ndelay = "200ms"',
        'kind = "model-outage"\nat = "40s"\nduration = "10s"\nbehaviour = "hang"',
    )
    assert [f.server for f in scenario.faults] == ["worker-ai-2", "rabbitmq", "redis", "openai"]
    assert scenario.faults[2].delay == pytest.approx(0.2)
    assert owned_servers(scenario.faults) == {"rabbitmq", "redis"}
    assert proxied_servers(scenario.faults) == {"redis"}


@pytest.mark.parametrize(
    ("fault", "field", "words"),
    [
        ('kind = "disk-full"\nat = 1\nduration = 1', "faults[0].kind", "must be one of"),
        ('kind = "worker-kill"\nat = 1\nduration = 1\ntarget = "gpu"', "faults[0].target", "ai"),
        (
            'kind = "worker-kill"\nat = 1\nduration = 1\ntarget = "ai"\nreplica = 4',
            "faults[0].replica",
            "3 replicas",
        ),
        ('kind = "reset"\nat = 1\nduration = 1\ntarget = "s3"', "faults[0].target", "postgres"),
        (
            'kind = "broker-restart"\nat = 1\nduration = 1\ntarget = "redis"',
            "faults[0].target",
            "rabbitmq",
        ),
        ('kind = "latency"\nat = 1\nduration = 1\ntarget = "redis"', "faults[0].delay", "delay"),
        (
            'kind = "reset"\nat = 1\nduration = 1\ntarget = "redis"\ndelay = 1',
            "faults[0].delay",
            "only for",
        ),
        ('kind = "redis-restart"\nat = 95\nduration = 10', "faults[0].duration", "after the"),
        ('kind = "redis-restart"\nat = 5\nduration = 0', "faults[0].duration", "must be > 0"),
    ],
)
def test_a_bad_fault_is_refused_naming_its_field(fault: str, field: str, words: str) -> None:
    message = _refusal(fault)
    assert f"{field}:" in message and words in message, message


def test_overlapping_faults_on_one_server_are_refused() -> None:
    message = _refusal(
        'kind = "postgres-restart"\nat = 10\nduration = 10',
        'kind = "latency"\nat = 15\nduration = 10\ntarget = "postgres"\ndelay = 0.1',
    )
    assert "faults[1].at: overlaps faults[0] on postgres" in message


def test_faults_on_different_servers_may_overlap() -> None:
    scenario = _parse(
        'kind = "postgres-restart"\nat = 10\nduration = 10',
        'kind = "redis-restart"\nat = 15\nduration = 10',
    )
    assert len(scenario.faults) == 2


def _gate(metric: str, fault: str) -> str:
    tags = f'tags = {{ fault = "{fault}" }}'
    return f'[[gates]]\nmetric = "{metric}"\n{tags}\nthresholds = ["max < 1"]\n'


def test_a_gate_on_the_steady_state_outside_the_faults_is_accepted() -> None:
    broker = 'kind = "broker-restart"\nat = "20s"\nduration = "10s"'
    scenario = parse_scenario(
        BASE
        + _gate("stack_overhead", "none")
        + _gate("processing_after_fault", "broker-restart")
        + f"[[faults]]\n{broker}\n"
    )
    assert [g.tags for g in scenario.gates[1:]] == [
        {"fault": "none"},
        {"fault": "broker-restart"},
    ]


@pytest.mark.parametrize(
    ("gate", "faults", "expected"),
    [
        (
            _gate("stack_overhead", "none"),
            "",
            "gates[1].tags.fault: 'none' is no fault of this scenario (its labels: none: the "
            "scenario has no [[faults]])",
        ),
        (
            _gate("stack_overhead", "broker-restrat"),
            '[[faults]]\nkind = "broker-restart"\nat = "20s"\nduration = "10s"\n',
            "gates[1].tags.fault: 'broker-restrat' is no fault of this scenario (its labels: "
            "broker-restart, none)",
        ),
        (
            # the faults' own metrics are per fault: there is no "none" among them
            _gate("recovery_time", "none"),
            '[[faults]]\nkind = "broker-restart"\nat = "20s"\nduration = "10s"\n',
            "gates[1].tags.fault: 'none' is no fault of this scenario (its labels: broker-restart)",
        ),
        (
            '[[gates]]\nmetric = "recovery_time"\nthresholds = ["max < 30000"]\n',
            "",
            "gates[1].metric: recovery_time is measured on [[faults]] and this scenario has none",
        ),
    ],
)
def test_a_fault_gate_must_name_a_fault_the_scenario_plays(
    gate: str, faults: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(BASE + gate + faults)
    assert expected in str(caught.value)
