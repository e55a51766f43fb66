"""The storage tier: all three servers up with one mode, down in reverse, also after failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.providers import (
    EphemeralPostgres,
    EphemeralRedis,
    Provider,
    ProviderError,
    StorageTier,
)
from harness.providers.base import Kind
from harness.providers.kinds import SPECS


class Recorder(Provider):
    """A provider that starts nothing and writes down what happened to it."""

    mode = "running"

    def __init__(self, kind: Kind, log: list[tuple[str, str]], *, fail: bool = False) -> None:
        super().__init__(SPECS[kind])
        self.log, self.fail = log, fail
        self._lock = threading.Lock()

    def check_available(self) -> None:
        """Always available."""

    def _start(self) -> str:
        with self._lock:
            self.log.append(("start", self.kind))
        if self.fail:
            raise ProviderError(f"{self.kind} broke")
        return self.spec.url("127.0.0.1", 1000 + len(self.kind))

    def _stop(self) -> None:
        self.log.append(("stop", self.kind))


def _recorders(log: list[tuple[str, str]], failing: str = "") -> dict[Kind, Provider]:
    return {kind: Recorder(kind, log, fail=kind == failing) for kind in SPECS}


def test_env_names_the_three_settings_variables() -> None:
    log: list[tuple[str, str]] = []
    with StorageTier(providers=_recorders(log)) as tier:
        assert tier.env() == {
            "WASTECOACH_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1008/postgres",
            "WASTECOACH_REDIS_URL": "redis://127.0.0.1:1005/0",
            "WASTECOACH_BROKER_URL": "amqp://guest:guest@127.0.0.1:1008//",
        }
    assert [entry for entry in log if entry[0] == "stop"] == [
        ("stop", "rabbitmq"),
        ("stop", "redis"),
        ("stop", "postgres"),
    ]


def test_a_failed_start_stops_the_others_in_reverse_order() -> None:
    log: list[tuple[str, str]] = []
    tier = StorageTier(providers=_recorders(log, failing="rabbitmq"), parallel=False)
    with pytest.raises(ProviderError, match="rabbitmq broke"):
        tier.start()
    assert log == [
        ("start", "postgres"),
        ("start", "redis"),
        ("start", "rabbitmq"),
        ("stop", "rabbitmq"),  # the provider's own clean-up of its half-start
        ("stop", "redis"),
        ("stop", "postgres"),
    ]
    assert tier.providers == {}


def test_a_failed_parallel_start_stops_every_started_server() -> None:
    log: list[tuple[str, str]] = []
    tier = StorageTier(providers=_recorders(log, failing="postgres"))
    with pytest.raises(ProviderError, match="postgres broke"):
        tier.start()
    assert sorted(kind for action, kind in log if action == "stop") == [
        "postgres",
        "rabbitmq",
        "redis",
    ]


def test_env_before_start_is_an_error() -> None:
    with pytest.raises(ProviderError, match="storage tier is not started"):
        StorageTier().env()


@pytest.mark.integration
@pytest.mark.usefixtures("no_provider_env")
def test_running_tier_points_at_the_live_servers() -> None:
    with StorageTier("running") as tier:
        assert tier.env() == {
            "WASTECOACH_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            "WASTECOACH_REDIS_URL": "redis://127.0.0.1:6379/0",
            "WASTECOACH_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        }


@pytest.mark.integration
@pytest.mark.slow
def test_ephemeral_tier_comes_up_and_goes_away(temp_dirs: Callable[[str], set[Path]]) -> None:
    before = {kind: temp_dirs(kind) for kind in SPECS}
    with StorageTier("ephemeral") as tier:
        env = tier.env()
        assert ":5432/" not in env["WASTECOACH_DATABASE_URL"]
        assert ":6379/" not in env["WASTECOACH_REDIS_URL"]
        assert ":5672/" not in env["WASTECOACH_BROKER_URL"]
        for provider in tier.providers.values():
            assert provider.mode == "ephemeral"
            assert provider.startup_seconds is not None
    assert {kind: temp_dirs(kind) for kind in SPECS} == before


@pytest.mark.integration
def test_a_real_failure_leaves_no_server_behind(
    listening_port: int, temp_dirs: Callable[[str], set[Path]]
) -> None:
    before = temp_dirs("postgres")
    postgres = EphemeralPostgres()
    tier = StorageTier(
        "running",
        providers={"postgres": postgres, "redis": EphemeralRedis(port=listening_port)},
    )
    with pytest.raises(ProviderError, match=f"port {listening_port} on 127.0.0.1 is already"):
        tier.start()
    assert not postgres.started
    assert temp_dirs("postgres") == before
