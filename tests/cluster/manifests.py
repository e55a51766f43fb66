"""Render the overlays and reason about what they would do on a cluster, offline.

Kept small and literal: Kubernetes' own rules for the few things the tests need (quantities,
taints and tolerations, label selectors, NetworkPolicy ingress), not a general model.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
OVERLAYS = ("kind", "ec2")
KIND_CONFIG = CLUSTER / "kind" / "kind-config.yaml"
TIER_LABEL = "wastecoach.io/tier"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}

Obj = dict[str, Any]

# Deployments only the kind overlay adds, by (namespace, name), and the tier each goes to: the
# fakes stand in for the outside world and belong to no tier's budget, so they share the control
# node, as do the Locust workers (a test client, like the release gate, stays off the tiers it
# measures); the gateway is an API pod. Every other Deployment and StatefulSet is in
# tiers.WORKLOADS.
KIND_ONLY_TIERS = {
    ("default", "gateway"): "api",
    ("fakes", "fake-s3"): "control",
    ("fakes", "fake-openai"): "control",
    ("fakes", "fake-kakao"): "control",
    ("fakes", "fake-oauth"): "control",
    ("load", "locust-worker"): "control",
}


class RenderError(RuntimeError):
    """kubectl kustomize failed; the message carries its stderr."""


def kubectl() -> str | None:
    return shutil.which("kubectl")


@cache
def render(overlay: str) -> tuple[Obj, ...]:
    """The objects ``kubectl kustomize cluster/overlays/<overlay>`` prints."""
    binary = kubectl()
    if binary is None:
        raise RenderError("kubectl is not installed")
    done = subprocess.run(
        [binary, "kustomize", str(CLUSTER / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RenderError(f"kubectl kustomize overlays/{overlay} failed:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def find(objects: tuple[Obj, ...], kind: str, name: str, namespace: str | None = None) -> Obj:
    for obj in objects:
        meta = obj["metadata"]
        if (
            obj["kind"] == kind
            and meta["name"] == name
            and (namespace is None or meta.get("namespace") == namespace)
        ):
            return obj
    raise KeyError(f"no {kind} {namespace}/{name} in the rendering")


# --- quantities -------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def cpu_millis(quantity: str | int | float) -> int:
    text = str(quantity)
    if text.endswith("m"):
        return int(text[:-1])
    return round(float(text) * 1000)


def memory_bytes(quantity: str | int) -> int:
    text = str(quantity)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k)?", text)
    if match is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    number, unit = float(match.group(1)), match.group(2)
    scale = _BINARY.get(unit or "", _DECIMAL.get(unit or "", 1))
    return round(number * scale)


def memory_mib(quantity: str | int) -> float:
    return memory_bytes(quantity) / 2**20


# --- workloads and their pods -----------------------------------------------------------------

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


@dataclass(frozen=True)
class PodTemplate:
    """The pod template of one workload, with how many pods of it the rendering asks for."""

    kind: str
    name: str
    namespace: str
    replicas: int  # for a DaemonSet: pods per node
    obj: Obj = field(repr=False, compare=False, hash=False)

    @property
    def spec(self) -> Obj:
        return self.obj["spec"]["template"]["spec"]

    @property
    def labels(self) -> dict[str, str]:
        return self.obj["spec"]["template"]["metadata"].get("labels", {})

    @property
    def annotations(self) -> dict[str, str]:
        return self.obj["spec"]["template"]["metadata"].get("annotations", {})

    @property
    def containers(self) -> list[Obj]:
        return self.spec["containers"]

    def requests(self) -> tuple[int, float]:
        """CPU millis and memory MiB one pod requests (containers; init containers run first)."""
        cpu = sum(cpu_millis(c["resources"]["requests"]["cpu"]) for c in self.containers)
        mem = sum(memory_mib(c["resources"]["requests"]["memory"]) for c in self.containers)
        return cpu, mem

    def ports(self) -> dict[str, int]:
        return {
            port.get("name", str(port["containerPort"])): port["containerPort"]
            for container in self.containers
            for port in container.get("ports", [])
        }

    def resolve_port(self, port: int | str) -> int:
        return port if isinstance(port, int) else self.ports()[port]


def pod_templates(objects: tuple[Obj, ...]) -> list[PodTemplate]:
    templates = []
    for obj in objects:
        kind = obj["kind"]
        if kind not in WORKLOAD_KINDS:
            continue
        spec = obj["spec"]
        replicas = {"Job": spec.get("parallelism", 1), "DaemonSet": 1}.get(
            kind, spec.get("replicas", 1)
        )
        templates.append(
            PodTemplate(kind, obj["metadata"]["name"], obj["metadata"]["namespace"], replicas, obj)
        )
    return templates


def template(objects: tuple[Obj, ...], name: str) -> PodTemplate:
    for item in pod_templates(objects):
        if item.name == name:
            return item
    raise KeyError(f"no workload named {name!r} in the rendering")


# --- nodes, taints and scheduling -------------------------------------------------------------


@dataclass(frozen=True)
class KindNode:
    role: str
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]
    kubelet_args: dict[str, str]
    port_mappings: tuple[Obj, ...]

    @property
    def tier(self) -> str:
        return self.labels[TIER_LABEL]

    def reserved(self) -> tuple[int, float]:
        """CPU millis and memory MiB the kubelet keeps from pods (reserved + eviction)."""
        cpu, mem = 0, 0.0
        for flag in ("kube-reserved", "system-reserved"):
            values = dict(
                item.split("=", 1) for item in self.kubelet_args.get(flag, "").split(",") if item
            )
            cpu += cpu_millis(values.get("cpu", "0"))
            mem += memory_mib(values.get("memory", "0"))
        for item in self.kubelet_args.get("eviction-hard", "").split(","):
            if item.startswith("memory.available<"):
                mem += memory_mib(item.split("<", 1)[1])
        return cpu, mem


def kind_config() -> Obj:
    return yaml.safe_load(KIND_CONFIG.read_text())


def kind_nodes() -> list[KindNode]:
    nodes = []
    for node in kind_config()["nodes"]:
        taints: list[dict[str, str]] = []
        kubelet_args: dict[str, str] = {}
        for patch in node.get("kubeadmConfigPatches", []):
            registration = yaml.safe_load(patch).get("nodeRegistration", {})
            taints.extend(registration.get("taints") or [])
            kubelet_args.update(registration.get("kubeletExtraArgs") or {})
        if node["role"] == "control-plane" and not taints:
            # kubeadm's default when a control plane names no taints of its own.
            taints.append(CONTROL_PLANE_TAINT)
        nodes.append(
            KindNode(
                node["role"],
                node.get("labels", {}),
                tuple(taints),
                kubelet_args,
                tuple(node.get("extraPortMappings", [])),
            )
        )
    return nodes


def tolerates(tolerations: list[Obj], taint: dict[str, str]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint["effect"]):
            continue
        operator = toleration.get("operator", "Equal")
        if operator == "Exists" and toleration.get("key") in (None, "", taint["key"]):
            return True
        if (
            operator == "Equal"
            and toleration.get("key") == taint["key"]
            and toleration.get("value", "") == taint.get("value", "")
        ):
            return True
    return False


def schedulable_on(pod: PodTemplate, node: KindNode) -> bool:
    """nodeSelector and NoSchedule/NoExecute taints, as the scheduler filters them."""
    selector = pod.spec.get("nodeSelector", {})
    if any(node.labels.get(key) != value for key, value in selector.items()):
        return False
    tolerations = pod.spec.get("tolerations", [])
    return all(
        tolerates(tolerations, taint)
        for taint in node.taints
        if taint["effect"] in ("NoSchedule", "NoExecute")
    )


# --- selectors and NetworkPolicy --------------------------------------------------------------


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector; an empty one matches everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def namespace_labels(objects: tuple[Obj, ...]) -> dict[str, dict[str, str]]:
    """Labels of every namespace, with the one the API server adds to each."""
    found = {"default": {}, "kube-system": {}}
    for obj in objects:
        if obj["kind"] == "Namespace":
            found[obj["metadata"]["name"]] = dict(obj["metadata"].get("labels", {}))
    return {name: {**labels, "kubernetes.io/metadata.name": name} for name, labels in found.items()}


def _peer_admits(
    peer: Obj, policy_ns: str, source: PodTemplate, ns_labels: dict[str, dict[str, str]]
) -> bool:
    if "ipBlock" in peer:
        return False  # addresses outside the cluster; our sources are pods
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], ns_labels.get(source.namespace, {})):
            return False
    elif source.namespace != policy_ns:
        return False
    return selector_matches(peer.get("podSelector"), source.labels)


def ingress_allowed(
    objects: tuple[Obj, ...], source: PodTemplate, target: PodTemplate, port: int
) -> bool:
    """Whether the NetworkPolicies let ``source`` pods open TCP ``port`` on ``target`` pods."""
    ns_labels = namespace_labels(objects)
    selecting = [
        obj
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        and obj["metadata"]["namespace"] == target.namespace
        and selector_matches(obj["spec"]["podSelector"], target.labels)
        and "Ingress" in obj["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(
                item.get("protocol", "TCP") == "TCP"
                and ("port" not in item or target.resolve_port(item["port"]) == port)
                for item in ports
            ):
                continue
            peers = rule.get("from")
            if not peers or any(
                _peer_admits(peer, policy["metadata"]["namespace"], source, ns_labels)
                for peer in peers
            ):
                return True
    return False


def _ports_match(
    ports: list[Obj] | None, port: int, protocol: str, target: PodTemplate | None
) -> bool:
    if not ports:
        return True
    for item in ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        if "port" not in item:
            return True
        wanted = item["port"]
        if isinstance(wanted, str):  # a named port: only a pod target has names
            if target is not None and target.ports().get(wanted) == port:
                return True
        elif wanted == port:
            return True
    return False


def egress_allowed(
    objects: tuple[Obj, ...],
    source: PodTemplate,
    port: int,
    *,
    target: PodTemplate | None = None,
    address: str | None = None,
    protocol: str = "TCP",
) -> bool:
    """Whether the NetworkPolicies let ``source`` pods open ``port`` on ``target`` pods, or on
    ``address`` outside the cluster (one of the two)."""
    ns_labels = namespace_labels(objects)
    selecting = [
        obj
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        and obj["metadata"]["namespace"] == source.namespace
        and selector_matches(obj["spec"]["podSelector"], source.labels)
        and "Egress" in obj["spec"].get("policyTypes", [])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("egress") or []:
            if not _ports_match(rule.get("ports"), port, protocol, target):
                continue
            peers = rule.get("to")
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    if address is not None and _in_block(address, peer["ipBlock"]):
                        return True
                elif target is not None and _peer_admits(
                    peer, policy["metadata"]["namespace"], target, ns_labels
                ):
                    return True
    return False


def _in_block(address: str, block: Obj) -> bool:
    ip = ipaddress.ip_address(address)
    inside = ip in ipaddress.ip_network(block["cidr"])
    return inside and not any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except", []))


def iter_containers(objects: tuple[Obj, ...]) -> Iterator[tuple[PodTemplate, Obj]]:
    for pod in pod_templates(objects):
        for container in pod.spec.get("initContainers", []) + pod.containers:
            yield pod, container


# --- settings ---------------------------------------------------------------------------------


def data_of(obj: Obj) -> dict[str, str]:
    if obj["kind"] == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
    return dict(obj.get("data", {}))


def pod_environment(objects: tuple[Obj, ...], pod_name: str) -> dict[str, str]:
    """What the first container of a workload sees: envFrom sources, then env literals."""
    pod = template(objects, pod_name)
    container = pod.containers[0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        kind, ref = next(iter(source.items()))
        kind = {"configMapRef": "ConfigMap", "secretRef": "Secret"}[kind]
        try:
            env.update(data_of(find(objects, kind, ref["name"], pod.namespace)))
        except KeyError:
            continue  # out-of-band Secret (ec2)
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env
