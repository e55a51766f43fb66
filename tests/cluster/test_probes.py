"""Probes check what they should, and never kill a worker that is busy on a slow call."""

from __future__ import annotations

import pytest

from reference.common.settings import Settings
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

SERVICES = ("auth-service", "users-service", "locations-service", "waste-service")
WORKERS = ("celery-ai-worker", "celery-batch-worker", "celery-api-worker", "celery-beat")
WORKER_METRICS_PORT = 9808
# The seed's longest batch task: report.generate, 60-120 s.
LONGEST_BATCH_TASK_SECONDS = 120
# Long-running pods no probe could ask anything, and what stands in for one.
UNPROBED = {
    "locust-worker": "serves nothing; Locust's worker quits when its master stops sending "
    "heartbeats (60 s), and the Deployment starts a fresh one",
}


def probe_port(pod: manifests.PodTemplate, probe: Obj) -> int:
    action = probe.get("httpGet") or probe.get("tcpSocket")
    assert action is not None, f"{pod.name}: the probe is neither HTTP nor TCP: {probe}"
    return pod.resolve_port(action["port"])


def test_no_probe_asks_celery(objects: tuple[Obj, ...]) -> None:
    for pod, container in manifests.iter_containers(objects):
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            command = " ".join(container.get(kind, {}).get("exec", {}).get("command", []))
            assert "celery" not in command and "inspect" not in command, (pod.name, kind)


@pytest.mark.parametrize("name", WORKERS)
def test_workers_are_probed_on_their_own_http_listener_with_generous_thresholds(
    objects: tuple[Obj, ...], name: str
) -> None:
    pod = manifests.template(objects, name)
    (container,) = pod.containers
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    assert env["WASTECOACH_WORKER_METRICS_PORT"] == str(WORKER_METRICS_PORT)
    liveness = container["livenessProbe"]
    assert "exec" not in liveness
    assert probe_port(pod, liveness) == WORKER_METRICS_PORT
    assert liveness.get("httpGet", {}).get("path", "/healthz") == "/healthz"
    # Two minutes and more of silence before a restart; a slow answer is not a failure.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 120
    assert liveness["timeoutSeconds"] >= 5
    startup = container["startupProbe"]
    assert probe_port(pod, startup) == WORKER_METRICS_PORT


def model_call_worst_case_seconds(settings: Settings) -> float:
    """Every attempt at the model timing out, with the exponential backoff between attempts."""
    backoff = sum(
        min(
            settings.openai_backoff_initial_seconds * 2**attempt,
            settings.openai_backoff_max_seconds,
        )
        for attempt in range(settings.openai_attempts - 1)
    )
    return settings.openai_attempts * settings.openai_timeout_seconds + backoff


def test_ai_worker_grace_period_covers_a_model_call_with_every_retry(
    objects: tuple[Obj, ...],
) -> None:
    (settings_env,) = [
        obj["data"]
        for obj in objects
        if obj["kind"] == "ConfigMap"
        and obj["metadata"]["name"].startswith("wastecoach-settings")
        and obj["metadata"]["namespace"] == "waste"
    ]
    knobs = {
        key.removeprefix("WASTECOACH_").lower(): value
        for key, value in settings_env.items()
        if key.startswith("WASTECOACH_OPENAI_") and not key.endswith(("_URL", "_KEY", "_MODEL"))
    }
    settings = Settings(**knobs)  # type: ignore[arg-type]  # pydantic parses the strings
    pod = manifests.template(objects, "celery-ai-worker")
    assert pod.spec["terminationGracePeriodSeconds"] >= model_call_worst_case_seconds(settings)
    assert model_call_worst_case_seconds(Settings()) > 5  # the seed's 5 s call, retried


def test_batch_worker_grace_period_covers_the_longest_batch_task(
    objects: tuple[Obj, ...],
) -> None:
    pod = manifests.template(objects, "celery-batch-worker")
    assert pod.spec["terminationGracePeriodSeconds"] > LONGEST_BATCH_TASK_SECONDS


@pytest.mark.parametrize("name", SERVICES)
def test_services_liveness_is_healthz_and_readiness_is_readyz(
    objects: tuple[Obj, ...], name: str
) -> None:
    pod = manifests.template(objects, name)
    (container,) = pod.containers
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("livenessProbe", "readinessProbe"):
        assert probe_port(pod, container[kind]) == 8000
    assert container["command"][:2] == ["uvicorn", f"reference.{name.split('-')[0]}.main:app"]


def test_every_long_running_container_has_a_liveness_probe(objects: tuple[Obj, ...]) -> None:
    for pod in manifests.pod_templates(objects):
        if pod.kind == "Job" or pod.name in UNPROBED:
            continue
        for container in pod.containers:
            assert "livenessProbe" in container, f"{pod.namespace}/{pod.name}"
            if pod.kind != "DaemonSet":
                assert "readinessProbe" in container, f"{pod.namespace}/{pod.name}"
