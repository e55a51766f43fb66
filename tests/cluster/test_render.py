"""Both overlays render, and every object is valid Kubernetes 1.28, strictly."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

KUBERNETES_VERSION = "1.28"  # the seed's kubeadm v1.28 and the kind node image
REFERENCE_IMAGE = {"kind": "wastecoach/reference", "ec2": "ghcr.io/growbin/wastecoach-reference"}


def test_overlay_renders_the_expected_kinds(objects: tuple[Obj, ...], overlay: str) -> None:
    kinds = Counter(obj["kind"] for obj in objects)
    for kind in (
        "Namespace",
        "Deployment",
        "StatefulSet",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Job",
    ):
        assert kinds[kind] >= 1, f"overlays/{overlay} renders no {kind}"
    assert kinds["StatefulSet"] == 2  # RabbitMQ and PostgreSQL
    if overlay == "ec2":
        assert kinds["Ingress"] == 5
        assert kinds["Secret"] == 0, "the ec2 overlay must not commit Secrets"
    else:
        assert kinds["Ingress"] == 0


def test_every_object_validates_strictly_against_kubernetes_1_28(
    objects: tuple[Obj, ...],
) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (the cluster extra)"
    )
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{obj['kind']} {obj['metadata']['name']}: {path}: {error.message}")
    assert not problems, "\n".join(problems)


def test_names_are_unique_and_namespaced_objects_name_their_namespace(
    objects: tuple[Obj, ...],
) -> None:
    cluster_scoped = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "APIService",
    }
    keys = Counter(
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in objects
    )
    assert [key for key, count in keys.items() if count > 1] == []
    for obj in objects:
        namespaced = obj["kind"] not in cluster_scoped
        assert ("namespace" in obj["metadata"]) == namespaced, (obj["kind"], obj["metadata"])


def test_every_namespace_used_is_declared(objects: tuple[Obj, ...]) -> None:
    declared = set(manifests.namespace_labels(objects))
    used = {obj["metadata"]["namespace"] for obj in objects if "namespace" in obj["metadata"]}
    assert used <= declared


def test_seed_namespaces(objects: tuple[Obj, ...]) -> None:
    declared = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Namespace"}
    assert {"auth", "users", "waste", "locations", "messaging", "monitoring"} <= declared


def test_references_to_configmaps_and_secrets_resolve(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    present = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in objects
    }
    missing = set()
    for pod, container in manifests.iter_containers(objects):
        refs = [
            ("ConfigMap", item["configMapRef"]["name"])
            for item in container.get("envFrom", [])
            if "configMapRef" in item
        ]
        refs += [
            ("Secret", item["secretRef"]["name"])
            for item in container.get("envFrom", [])
            if "secretRef" in item
        ]
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            if "secretKeyRef" in source:
                refs.append(("Secret", source["secretKeyRef"]["name"]))
            if "configMapKeyRef" in source:
                refs.append(("ConfigMap", source["configMapKeyRef"]["name"]))
        for volume in pod.spec.get("volumes", []):
            if "configMap" in volume:
                refs.append(("ConfigMap", volume["configMap"]["name"]))
            if "secret" in volume:
                refs.append(("Secret", volume["secret"]["secretName"]))
            for source in volume.get("projected", {}).get("sources", []):
                if "configMap" in source:
                    refs.append(("ConfigMap", source["configMap"]["name"]))
                if "secret" in source:
                    refs.append(("Secret", source["secret"]["name"]))
        for kind, name in refs:
            if (kind, pod.namespace, name) not in present:
                missing.add((kind, pod.namespace, name))
    if overlay == "kind":
        assert missing == set(), "the kind overlay must bring everything it references"
    else:
        # Secrets are created out of band on EC2 (cluster/README.md lists them); nothing else.
        assert {kind for kind, _, _ in missing} <= {"Secret"}
        readme = (manifests.CLUSTER / "README.md").read_text()
        for _, namespace, name in missing:
            assert re.search(rf"`{re.escape(name)}`.*`{re.escape(namespace)}`", readme), (
                f"Secret {namespace}/{name} is used by the ec2 overlay but cluster/README.md "
                "does not say how to create it"
            )


def test_our_images_carry_the_overlay_tag(objects: tuple[Obj, ...], overlay: str) -> None:
    for _, container in manifests.iter_containers(objects):
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{image} has no tag"
        assert not image.endswith(":latest"), image
        if "wastecoach" in image:
            assert image.split(":")[0] == REFERENCE_IMAGE[overlay], image


def test_pods_of_our_namespaces_meet_the_restricted_pod_security_profile(
    objects: tuple[Obj, ...],
) -> None:
    restricted = {
        obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] == "Namespace"
        and obj["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
        == "restricted"
    }
    assert {"auth", "users", "locations", "waste", "messaging"} <= restricted
    for pod, container in manifests.iter_containers(objects):
        if pod.namespace not in restricted:
            continue
        where = f"{pod.namespace}/{pod.name}/{container['name']}"
        security = pod.spec.get("securityContext", {})
        assert security.get("runAsNonRoot") is True, where
        assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        own = container.get("securityContext", {})
        assert own.get("allowPrivilegeEscalation") is False, where
        assert own.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not pod.spec.get("hostNetwork") and not pod.spec.get("hostPID"), where
