"""The servers of a run: ``--servers``/``WASTECOACH_SERVERS`` checked, ownership enforced, and the
servers ``auto`` and ``ephemeral`` give really serving the sandbox (management API included)."""

from __future__ import annotations

import httpx
import pytest

from harness.providers.base import ProviderError
from harness.stack.sandbox import Sandbox, management_api
from harness.stack.servers import ENV_VAR, RunServers, ServersError, mode_from


def test_the_mode_comes_from_the_option_then_the_variable_then_auto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert mode_from(None) == "auto"
    monkeypatch.setenv(ENV_VAR, "ephemeral")
    assert mode_from(None) == "ephemeral"
    assert mode_from("container") == "container"


def test_an_unknown_mode_is_one_line_naming_the_choices() -> None:
    with pytest.raises(ServersError) as caught:
        mode_from("docker")
    message = str(caught.value)
    assert "\n" not in message
    assert "'docker'" in message and "ephemeral" in message and "container" in message


def test_running_servers_cannot_be_owned() -> None:
    with pytest.raises(ServersError, match="must own"):
        RunServers("running", owned=["rabbitmq"])


def test_auto_with_nothing_available_names_the_three_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(self: object) -> None:
        raise ProviderError(f"{type(self).__name__} is not here")

    from harness.providers.container import ContainerProvider
    from harness.providers.ephemeral.base import EphemeralServer
    from harness.providers.running import RunningProvider

    for cls in (RunningProvider, EphemeralServer, ContainerProvider):
        monkeypatch.setattr(cls, "check_available", unavailable)
    with pytest.raises(ServersError) as caught:
        RunServers("auto").start()
    message = str(caught.value)
    assert "\n" not in message
    for way in ("start PostgreSQL", "binaries", "Docker engine"):
        assert way in message


@pytest.mark.integration
@pytest.mark.slow
def test_ephemeral_servers_carry_a_sandbox_and_can_be_restarted() -> None:
    with RunServers("ephemeral") as servers:
        assert servers.modes() == {
            "postgres": "ephemeral",
            "redis": "ephemeral",
            "rabbitmq": "ephemeral",
        }
        urls = servers.urls()
        assert urls.management_url and ":15672" not in urls.management_url
        with Sandbox(urls) as sandbox:
            api = management_api(urls.broker_url, urls.management_url)
            vhosts = httpx.get(f"{api}/vhosts", auth=("guest", "guest")).json()
            assert sandbox.name in {v["name"] for v in vhosts}
        assert servers.owns("postgres")
        assert servers.restartable("redis").ports


@pytest.mark.integration
def test_auto_under_ownership_skips_the_running_servers() -> None:
    servers = RunServers("auto", owned=["redis"])
    with servers:
        assert servers.modes()["redis"] == "ephemeral"
        assert servers.modes()["postgres"] == "running"  # the machine's own, which answer here
        with pytest.raises(ServersError, match="ephemeral"):
            servers.restartable("postgres")


def test_a_running_broker_without_its_management_api_is_passed_over_by_auto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness.stack.servers as servers_module

    monkeypatch.setattr(servers_module, "_management_problem", lambda provider: "no API")
    assert RunServers("auto")._provider("rabbitmq").mode == "ephemeral"
    with pytest.raises(ProviderError, match="no API"):
        RunServers("running")._provider("rabbitmq")
