"""The settings the overlays give the pods are ones the reference reads, and they agree."""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest

from reference.common.settings import Settings
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

PREFIX = "WASTECOACH_"


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith(PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_every_setting_given_is_one_the_reference_reads(objects: tuple[Obj, ...]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for obj in objects:
        if obj["kind"] in ("ConfigMap", "Secret") and obj["metadata"]["name"].startswith(
            ("wastecoach-settings", "wastecoach-secrets")
        ):
            for key in manifests.data_of(obj):
                assert key.startswith(PREFIX), key
                assert key.removeprefix(PREFIX) in fields, f"unknown setting {key}"


@pytest.mark.parametrize("workload", ["waste-service", "celery-ai-worker", "wastecoach-migrate"])
def test_kind_settings_validate_as_production(
    kind: tuple[Obj, ...], workload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(manifests.pod_environment(kind, workload), monkeypatch)
    assert settings.environment == "production"


def test_ec2_settings_point_at_aws_and_openai(
    ec2: tuple[Obj, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = manifests.pod_environment(ec2, "waste-service")
    # The Secret is created on the cluster; stand-ins so that production settings validate.
    env |= {f"{PREFIX}JWT_SECRET": "x" * 32, f"{PREFIX}OPENAI_API_KEY": "sk-test"}
    settings = settings_from(env, monkeypatch)
    assert settings.s3_endpoint_url is None  # AWS's own endpoint
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.environment == "production"


def test_kind_urls_name_services_that_exist(kind: tuple[Obj, ...]) -> None:
    services = {
        (obj["metadata"]["name"], obj["metadata"]["namespace"]): {
            port["port"] for port in obj["spec"]["ports"]
        }
        for obj in kind
        if obj["kind"] == "Service"
    }
    env = manifests.pod_environment(kind, "waste-service")
    for key, value in env.items():
        # The redirect base is where the app (outside the cluster) reaches the gateway.
        if not key.endswith("_URL") or not value or key.endswith("_REDIRECT_BASE_URL"):
            continue
        url = urlsplit(value)
        name, namespace, *_ = (url.hostname or "").split(".")
        assert (name, namespace) in services, f"{key}: no Service {namespace}/{name}"
        assert url.port in services[(name, namespace)], f"{key}: port {url.port}"


def test_kind_credentials_agree_across_secrets(kind: tuple[Obj, ...]) -> None:
    env = manifests.pod_environment(kind, "waste-service")
    database = urlsplit(env[f"{PREFIX}DATABASE_URL"])
    postgres = manifests.data_of(_secret(kind, "postgresql-credentials", "default"))
    assert (database.username, database.password) == (postgres["username"], postgres["password"])
    assert database.path == "/wastecoach"
    broker = urlsplit(env[f"{PREFIX}BROKER_URL"])
    users = json.loads(
        manifests.data_of(_secret(kind, "rabbitmq-credentials", "messaging"))["users.json"]
    )
    (user,) = users["users"]
    assert (broker.username, broker.password) == (user["name"], user["password"])
    assert users["permissions"][0]["vhost"] == "/"
    redis_url = urlsplit(env[f"{PREFIX}REDIS_URL"])
    redis = manifests.data_of(_secret(kind, "redis-credentials", "default"))
    assert redis_url.password == redis["password"]


def _secret(objects: tuple[Obj, ...], prefix: str, namespace: str) -> Obj:
    """A generated Secret by the name it was given (kustomize appends a content hash)."""
    for obj in objects:
        meta = obj["metadata"]
        if (
            obj["kind"] == "Secret"
            and meta["namespace"] == namespace
            and meta["name"].rsplit("-", 1)[0] == prefix
        ):
            return obj
    raise KeyError(f"no Secret {namespace}/{prefix}-<hash>")
