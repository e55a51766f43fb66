"""Scenario files for the load tests, written the way users write them."""

from __future__ import annotations

from pathlib import Path

GATE = """
[[gates]]
name = "p95 processing time under 5 s"
metric = "processing_time"
thresholds = ["p(95) < 5000"]
"""


def scenario_toml(
    *,
    name: str = "lt-test",
    stages: str,
    processes: int = 2,
    warmup: str = "0s",
    mix: str = 'scan = 1\nfollow = "poll"',
    images: str = "items = 5\nrepeat_probability = 0.8\nsize = [160, 120]",
    seed: int = 1,
) -> str:
    return f"""
name = "{name}"
description = "written by tests/loadtests"
seed = {seed}

[load]
warmup = "{warmup}"
locust_processes = {processes}
{stages}

[mix]
{mix}

[images]
{images}
{GATE}
"""


def closed_stage(duration: str, users: int, spawn_rate: float) -> str:
    return (
        f'\n[[load.stages]]\nduration = "{duration}"\nusers = {users}\nspawn_rate = {spawn_rate}\n'
    )


def open_stage(duration: str, rate: float, max_users: int | None = None) -> str:
    pool = f"\nmax_users = {max_users}" if max_users else ""
    return f'\n[[load.stages]]\nduration = "{duration}"\narrival_rate = {rate}{pool}\n'


def write(folder: Path, text: str, name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path
