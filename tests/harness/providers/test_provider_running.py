"""Running mode: the servers already up on this machine, found through the environment."""

from __future__ import annotations

import pytest

from harness.providers import ProviderError, RunningProvider
from harness.providers.kinds import KINDS
from harness.providers.ports import free_port

DEFAULTS = {
    "postgres": (
        "WASTECOACH_DATABASE_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    ),
    "redis": ("WASTECOACH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("WASTECOACH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}


@pytest.mark.integration
@pytest.mark.usefixtures("no_provider_env")
@pytest.mark.parametrize("kind", KINDS)
def test_running_server_is_found_at_the_default_url(kind: str) -> None:
    env_var, url = DEFAULTS[kind]
    provider = RunningProvider(kind)  # type: ignore[arg-type]

    with provider:
        assert provider.url() == url
        assert provider.env() == {env_var: url}

    # stop() must leave someone else's server alone.
    RunningProvider(kind).check_available()  # type: ignore[arg-type]


@pytest.mark.integration
def test_running_clients_talk_to_the_live_servers(no_provider_env: None) -> None:
    with RunningProvider("postgres") as postgres, postgres.client() as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    with RunningProvider("redis") as redis:
        client = redis.client()
        try:
            assert client.ping()
        finally:
            client.close()
    with RunningProvider("rabbitmq") as rabbitmq:
        connection = rabbitmq.client()
        try:
            assert connection.connected
        finally:
            connection.release()


@pytest.mark.parametrize("kind", KINDS)
def test_url_comes_from_the_environment(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env_var, _ = DEFAULTS[kind]
    url = {
        "postgres": "postgresql+psycopg://app@127.0.0.1:{port}/app",
        "redis": "redis://127.0.0.1:{port}/3",
        "rabbitmq": "amqp://app:topsecret@127.0.0.1:{port}/app",
    }[kind].format(port=free_port())
    monkeypatch.setenv(env_var, url)

    provider = RunningProvider(kind, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as caught:
        provider.start()

    message = str(caught.value)
    assert "does not answer" in message
    assert env_var in message
    assert "mode 'ephemeral' or 'container'" in message
    assert "topsecret" not in message  # passwords never reach messages
    assert "\n" not in message
    assert not provider.started


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(ProviderError, match="not started; call start"):
        RunningProvider("redis").url()
