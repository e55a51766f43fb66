"""The seed's HPA on waste-service, and PodDisruptionBudgets for every replicated workload."""

from __future__ import annotations

import pytest

from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster


def test_waste_service_hpa_is_2_to_10_at_70_percent_cpu(objects: tuple[Obj, ...]) -> None:
    (hpa,) = [obj for obj in objects if obj["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["namespace"] == "waste"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "waste-service",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    target = manifests.template(objects, "waste-service")
    assert target.namespace == "waste" and target.replicas == spec["minReplicas"]
    # Utilization is relative to the request, and the metrics come from metrics-server.
    assert all("cpu" in c["resources"]["requests"] for c in target.containers)
    assert manifests.template(objects, "metrics-server").namespace == "kube-system"


def test_every_replicated_workload_has_one_pdb_that_allows_a_drain(
    objects: tuple[Obj, ...],
) -> None:
    pdbs = [obj for obj in objects if obj["kind"] == "PodDisruptionBudget"]
    covered: set[str] = set()
    for pod in manifests.pod_templates(objects):
        if pod.kind not in ("Deployment", "StatefulSet"):
            continue
        mine = [
            pdb
            for pdb in pdbs
            if pdb["metadata"]["namespace"] == pod.namespace
            and manifests.selector_matches(pdb["spec"]["selector"], pod.labels)
        ]
        if pod.replicas < 2:
            # A PDB on a singleton either blocks drains forever or protects nothing.
            assert mine == [], f"{pod.name} has one replica and a PDB"
            continue
        assert len(mine) == 1, f"{pod.namespace}/{pod.name} has {len(mine)} PDBs"
        (spec,) = [pdb["spec"] for pdb in mine]
        if "maxUnavailable" in spec:
            allowed = spec["maxUnavailable"]
        else:
            allowed = pod.replicas - spec["minAvailable"]
        assert 1 <= allowed < pod.replicas, f"{pod.name}: {spec}"
        covered.add(mine[0]["metadata"]["name"])
    assert covered == {pdb["metadata"]["name"] for pdb in pdbs}, "a PDB selects no workload"
