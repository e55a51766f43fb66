"""Every Deployment and StatefulSet is in the tier layout (reference/common/tiers.py) with its
replicas, requests and limits, and every node's pods fit it with its headroom.

The capacity checks use the ec2 overlay (the replicas that run on the EC2 nodes).
"""

from __future__ import annotations

import pytest

from reference.common import tiers, topology
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

# The seed's table also puts the control plane (0.5 CPU / 1.5 GB), etcd (0.2 / 0.5) and ArgoCD
# (0.3 / 1) on master; they are not deployed from cluster/ (tiers.py lists only what we deploy),
# but they take the control node's capacity all the same.
SEED_CONTROL_PLANE = (500 + 200 + 300, 1536 + 512 + 1024)

# Pods outside the seed's budget table come out of the node's headroom: the tier layout's
# "headroom" workloads, and these, which are no per-tier Deployment or StatefulSet. Each node
# keeps at least two thirds of its headroom.
NOT_IN_THE_TIER_LAYOUT = {
    "wastecoach-migrate": "schema migrations, a Job that runs at each sync",
    "node-exporter": "a DaemonSet on every node: node metrics for two of the seed's alerts",
    "wastecoach-release-gate": "the release gate, a Job after each sync (a test client)",
}
HEADROOM_SHARE = 1 / 3


def pods_on(objects: tuple[Obj, ...], node: manifests.KindNode) -> list[manifests.PodTemplate]:
    return [pod for pod in manifests.pod_templates(objects) if manifests.schedulable_on(pod, node)]


def total(pods: list[manifests.PodTemplate]) -> tuple[int, float]:
    cpu = sum(pod.replicas * pod.requests()[0] for pod in pods)
    mem = sum(pod.replicas * pod.requests()[1] for pod in pods)
    return cpu, mem


def test_every_deployment_and_statefulset_is_in_the_tier_layout(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    rendered = {
        (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet")
    }
    layout = {(w.kind, w.namespace, w.name) for w in tiers.WORKLOADS}
    if overlay == "kind":
        layout |= {("Deployment", *key) for key in manifests.KIND_ONLY_TIERS}
    assert rendered == layout, (
        f"missing from tiers.py: {sorted(rendered - layout)}; "
        f"not rendered by overlays/{overlay}: {sorted(layout - rendered)}"
    )


def test_other_workloads_are_the_known_ones(objects: tuple[Obj, ...]) -> None:
    others = {
        pod.name for pod in manifests.pod_templates(objects) if pod.kind in ("DaemonSet", "Job")
    }
    assert others == set(NOT_IN_THE_TIER_LAYOUT)


def test_replicas_and_per_replica_resources_are_the_tier_layout(
    objects: tuple[Obj, ...],
) -> None:
    for workload in tiers.WORKLOADS:
        pod = manifests.template(objects, workload.name)
        assert pod.replicas == workload.replicas, workload.name
        (container,) = pod.containers
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert manifests.cpu_millis(requests["cpu"]) == workload.cpu_millis_per_replica
        assert manifests.memory_mib(requests["memory"]) == workload.memory_mib_per_replica
        # Memory is not overcommitted; CPU may burst to twice the request.
        assert limits["memory"] == requests["memory"], workload.name
        assert manifests.cpu_millis(limits["cpu"]) == 2 * manifests.cpu_millis(requests["cpu"])


def test_celery_workers_are_the_topology_workers(objects: tuple[Obj, ...]) -> None:
    for spec in topology.WORKERS:
        pod = manifests.template(objects, f"celery-{spec.name}-worker")
        assert pod.replicas == spec.replicas
        assert pod.spec["nodeSelector"][manifests.TIER_LABEL] == spec.tier
        (container,) = pod.containers
        # Pool, concurrency, prefetch and queues come from the topology through this command.
        assert container["command"] == ["python", "-m", "reference.workers", "run", spec.name]
    beat = manifests.template(objects, "celery-beat")
    assert beat.replicas == 1 and beat.obj["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("seed", tiers.NODES, ids=lambda node: node.tier)
def test_seed_budgets_fit_capacity_minus_headroom(ec2: tuple[Obj, ...], seed: tiers.Node) -> None:
    node = next(node for node in manifests.kind_nodes() if node.tier == seed.tier)
    budgeted_names = {workload.name for workload in tiers.workloads_on(seed.tier, "seed")}
    cpu, mem = total([pod for pod in pods_on(ec2, node) if pod.name in budgeted_names])
    if seed.tier == "control":
        cpu, mem = cpu + SEED_CONTROL_PLANE[0], mem + SEED_CONTROL_PLANE[1]
    assert cpu <= seed.cpu_millis - seed.headroom_cpu_millis, (seed.name, cpu)
    assert mem <= seed.memory_mib - seed.headroom_memory_mib, (seed.name, mem)


@pytest.mark.parametrize("seed", tiers.NODES, ids=lambda node: node.tier)
def test_pods_outside_the_seed_budget_are_known_and_leave_most_headroom(
    ec2: tuple[Obj, ...], seed: tiers.Node
) -> None:
    node = next(node for node in manifests.kind_nodes() if node.tier == seed.tier)
    seed_names = {w.name for w in tiers.WORKLOADS if w.budget == "seed"}
    extra = [pod for pod in pods_on(ec2, node) if pod.name not in seed_names]
    headroom_names = {w.name for w in tiers.workloads_on(seed.tier, "headroom")}
    assert {pod.name for pod in extra} <= headroom_names | set(NOT_IN_THE_TIER_LAYOUT)
    cpu, mem = total(extra)
    assert cpu <= HEADROOM_SHARE * seed.headroom_cpu_millis, (seed.name, cpu)
    assert mem <= HEADROOM_SHARE * seed.headroom_memory_mib, (seed.name, mem)


@pytest.mark.parametrize("seed", tiers.NODES, ids=lambda node: node.tier)
def test_all_pods_and_rolling_update_surges_fit_the_node(
    ec2: tuple[Obj, ...], seed: tiers.Node
) -> None:
    """Everything on the node, plus one surge pod of every Deployment that surges at once, plus
    the kubelet's reservations (kind-config.yaml) fits the instance."""
    node = next(node for node in manifests.kind_nodes() if node.tier == seed.tier)
    pods = pods_on(ec2, node)
    cpu, mem = total(pods)
    for pod in pods:
        strategy = pod.obj["spec"].get("strategy", {})
        if pod.kind == "Deployment" and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
            if surge not in (0, "0", "0%"):
                cpu, mem = cpu + pod.requests()[0], mem + pod.requests()[1]
    reserved_cpu, reserved_mem = node.reserved()
    if seed.tier == "control":
        reserved_cpu, reserved_mem = (
            reserved_cpu + SEED_CONTROL_PLANE[0],
            reserved_mem + SEED_CONTROL_PLANE[1],
        )
    assert cpu + reserved_cpu <= seed.cpu_millis, (seed.name, cpu, reserved_cpu)
    assert mem + reserved_mem <= seed.memory_mib, (seed.name, mem, reserved_mem)


def test_every_container_requests_and_limits_cpu_and_memory(objects: tuple[Obj, ...]) -> None:
    for pod, container in manifests.iter_containers(objects):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), (
                f"{pod.namespace}/{pod.name}/{container['name']} has no {kind}"
            )
        assert manifests.memory_bytes(resources["limits"]["memory"]) >= manifests.memory_bytes(
            resources["requests"]["memory"]
        )
