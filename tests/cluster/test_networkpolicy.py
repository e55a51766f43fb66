"""The seed's storage-isolation policy, and who can reach each storage server (evaluated)."""

from __future__ import annotations

import pytest

from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

CELERY = {"celery-ai-worker", "celery-batch-worker", "celery-api-worker", "celery-beat"}
# Who may open each storage port, by workload (seed section 5; the gateway only in kind).
CLIENTS = {
    # locations-service and auth-service publish map.search and oauth.verify to q.api.
    # The release gate Job publishes its scenario's q.batch flood.
    ("rabbitmq", 5672): {"waste-service", "locations-service", "auth-service"}
    | CELERY
    | {"wastecoach-release-gate"},
    # locations-service: the reference keeps the collection points in PostgreSQL.
    ("postgresql", 5432): {
        "auth-service",
        "users-service",
        "locations-service",
        "waste-service",
        "wastecoach-migrate",
    }
    | CELERY,
    ("redis", 6379): {"waste-service", "locations-service", "auth-service"} | CELERY,
    ("rabbitmq", 25672): {"rabbitmq"},
    ("rabbitmq", 4369): {"rabbitmq"},
    ("rabbitmq", 15692): {"prometheus"},
}
KIND_ONLY = {("rabbitmq", 5672), ("postgresql", 5432), ("redis", 6379)}


def test_storage_isolation_is_the_seed_policy(objects: tuple[Obj, ...]) -> None:
    policy = manifests.find(objects, "NetworkPolicy", "storage-isolation", "messaging")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app": "rabbitmq"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": app}}}
                    for app in ("waste-service", "celery-worker")
                ],
                "ports": [{"protocol": "TCP", "port": 5672}],
            }
        ],
    }


def test_every_celery_pod_carries_the_label_storage_isolation_admits(
    objects: tuple[Obj, ...],
) -> None:
    for pod in manifests.pod_templates(objects):
        command = pod.containers[0].get("command", [])
        if command[:3] == ["python", "-m", "reference.workers"]:
            assert pod.labels["app"] == "celery-worker", pod.name
            assert pod.name in CELERY


@pytest.mark.parametrize(("server", "port"), sorted(CLIENTS), ids=lambda v: str(v))
def test_only_the_clients_reach_each_storage_port(
    objects: tuple[Obj, ...], overlay: str, server: str, port: int
) -> None:
    pods = manifests.pod_templates(objects)
    target = manifests.template(objects, server)
    reach = {pod.name for pod in pods if manifests.ingress_allowed(objects, pod, target, port)}
    expected = set(CLIENTS[(server, port)])
    if overlay == "kind" and (server, port) in KIND_ONLY:
        expected.add("gateway")
    assert reach == expected


def test_an_unlabelled_pod_in_the_waste_namespace_cannot_reach_rabbitmq(
    objects: tuple[Obj, ...],
) -> None:
    """The evaluator itself: a pod without the admitted label is refused."""
    rabbitmq = manifests.template(objects, "rabbitmq")
    worker = manifests.template(objects, "celery-ai-worker")
    stranger = manifests.PodTemplate(
        "Deployment",
        "stranger",
        "waste",
        1,
        {"spec": {"template": {"metadata": {"labels": {"app": "stranger"}}, "spec": {}}}},
    )
    assert manifests.ingress_allowed(objects, worker, rabbitmq, 5672)
    assert not manifests.ingress_allowed(objects, stranger, rabbitmq, 5672)
    assert not manifests.ingress_allowed(objects, worker, rabbitmq, 25672)
