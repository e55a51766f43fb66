"""The kind cluster mimics the seed's four nodes, and every pod lands on its tier's node only."""

from __future__ import annotations

import pytest

from reference.common import tiers, topology
from tests.cluster import manifests
from tests.cluster.manifests import TIER_LABEL, Obj

pytestmark = pytest.mark.cluster


def test_kind_config_has_the_seed_nodes() -> None:
    nodes = manifests.kind_nodes()
    assert [node.role for node in nodes] == ["control-plane", "worker", "worker", "worker"]
    assert [node.tier for node in nodes] == [node.tier for node in tiers.NODES]
    for node, seed in zip(nodes, tiers.NODES, strict=True):
        assert node.labels["wastecoach.io/node"] == seed.name
        assert node.labels["wastecoach.io/instance"] == seed.instance


def test_kind_config_taints_each_worker_with_its_tier() -> None:
    for node in manifests.kind_nodes():
        if node.role == "control-plane":
            # kubeadm's own taint only: CoreDNS and local-path tolerate nothing else.
            assert list(node.taints) == [manifests.CONTROL_PLANE_TAINT]
        else:
            assert list(node.taints) == [
                {"key": TIER_LABEL, "value": node.tier, "effect": "NoSchedule"}
            ]


def test_kind_config_pins_a_1_28_node_image_and_listens_on_loopback_only() -> None:
    config = manifests.kind_config()
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    for node in config["nodes"]:
        image = node["image"]
        assert image.startswith("kindest/node:v1.28.") and "@sha256:" in image
        for mapping in node.get("extraPortMappings", []):
            assert mapping["listenAddress"] == "127.0.0.1"


def test_every_node_port_of_the_kind_overlay_is_mapped_to_loopback(
    kind: tuple[Obj, ...],
) -> None:
    node_ports = {
        port["nodePort"]
        for obj in kind
        if obj["kind"] == "Service" and obj["spec"].get("type") == "NodePort"
        for port in obj["spec"]["ports"]
    }
    mapped = {
        mapping["containerPort"]
        for node in manifests.kind_nodes()
        for mapping in node.port_mappings
        if mapping["hostPort"] == mapping["containerPort"]
    }
    assert node_ports == mapped == {30080, 30500, 30090, 30030}


def expected_tier(pod: manifests.PodTemplate) -> str | None:
    layout = {workload.name: workload.tier for workload in tiers.WORKLOADS}
    workers = {f"celery-{spec.name}-worker": spec.tier for spec in topology.WORKERS}
    kind_only = {name: tier for (_, name), tier in manifests.KIND_ONLY_TIERS.items()}
    return {**layout, **workers, **kind_only}.get(pod.name, pod.labels.get(TIER_LABEL))


def test_every_pod_can_land_on_its_tier_node_and_nowhere_else(
    objects: tuple[Obj, ...],
) -> None:
    nodes = manifests.kind_nodes()
    for pod in manifests.pod_templates(objects):
        fits = [node.tier for node in nodes if manifests.schedulable_on(pod, node)]
        if pod.kind == "DaemonSet":
            assert fits == [node.tier for node in nodes], f"{pod.name} misses a node"
            continue
        tier = expected_tier(pod)
        assert tier is not None, f"{pod.namespace}/{pod.name} names no tier"
        assert fits == [tier], f"{pod.namespace}/{pod.name} could land on {fits}, not [{tier}]"
        assert pod.spec["nodeSelector"] == {TIER_LABEL: tier}
        assert pod.labels[TIER_LABEL] == tier


def test_seed_workloads_sit_in_the_seed_namespaces(objects: tuple[Obj, ...]) -> None:
    for workload in tiers.WORKLOADS:
        pod = manifests.template(objects, workload.name)
        assert (pod.kind, pod.namespace) == (workload.kind, workload.namespace)
