"""RabbitMQ's definitions are the topology; the storage tier's volumes and memory settings."""

from __future__ import annotations

import json
import re

import pytest

from cluster import generate
from reference.common import topology
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

RABBITMQ_DIR = manifests.CLUSTER / "base" / "messaging" / "rabbitmq"
VOLUMES = {  # overlay -> workload -> (size, storage class)
    "ec2": {"rabbitmq": ("20Gi", "gp3"), "postgresql": ("50Gi", "gp3")},
    "kind": {"rabbitmq": ("1Gi", "standard"), "postgresql": ("2Gi", "standard")},
}


def test_committed_definitions_are_the_generated_ones() -> None:
    assert generate.stale_files() == [], "run `python -m cluster.generate` and commit the result"


def test_definitions_declare_the_five_queues_exactly_as_the_topology() -> None:
    definitions = json.loads(generate.DEFINITIONS.read_text())
    queues = {queue["name"]: queue for queue in definitions["queues"]}
    assert list(queues) == [spec.name for spec in topology.QUEUES]
    for spec in topology.QUEUES:
        queue = queues[spec.name]
        assert queue["arguments"] == spec.arguments, spec.name
        assert (queue["durable"], queue["auto_delete"], queue["vhost"]) == (True, False, "/")
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    assert bindings == {
        (topology.EXCHANGE, spec.name, spec.binding)
        if spec.binding
        else (topology.DEAD_LETTER_EXCHANGE, spec.name, topology.DEAD_LETTER_ROUTING_KEY)
        for spec in topology.QUEUES
    }
    exchanges = {(e["name"], e["type"], e["durable"]) for e in definitions["exchanges"]}
    assert exchanges == {
        (topology.EXCHANGE, "topic", True),
        (topology.DEAD_LETTER_EXCHANGE, "direct", True),
    }
    assert "users" not in definitions, "credentials belong in a Secret"


def test_rabbitmq_loads_topology_then_users_from_one_directory(
    objects: tuple[Obj, ...],
) -> None:
    conf = (RABBITMQ_DIR / "rabbitmq.conf").read_text()
    (path,) = re.findall(r"^load_definitions = (\S+)$", conf, re.M)
    pod = manifests.template(objects, "rabbitmq")
    (container,) = pod.containers
    mount = next(m for m in container["volumeMounts"] if m["name"] == "definitions")
    assert mount["mountPath"] == path
    volume = next(v for v in pod.spec["volumes"] if v["name"] == "definitions")
    files = [
        item["path"]
        for source in volume["projected"]["sources"]
        for item in next(iter(source.values()))["items"]
    ]
    # RabbitMQ imports a directory file by file in name order: the vhost before its users.
    assert files == sorted(files) == ["10-topology.json", "20-users.json"]


def test_rabbitmq_memory_settings_match_its_container_limit(objects: tuple[Obj, ...]) -> None:
    conf = (RABBITMQ_DIR / "rabbitmq.conf").read_text()
    (declared,) = re.findall(r"^total_memory_available_override_value = (\d+)$", conf, re.M)
    (container,) = manifests.template(objects, "rabbitmq").containers
    assert int(declared) == manifests.memory_bytes(container["resources"]["limits"]["memory"])


def test_redis_maxmemory_stays_under_its_limit(objects: tuple[Obj, ...]) -> None:
    (container,) = manifests.template(objects, "redis").containers
    command = " ".join(container["args"])
    (maxmemory,) = re.findall(r"--maxmemory (\d+)mb", command)
    limit = manifests.memory_mib(container["resources"]["limits"]["memory"])
    assert int(maxmemory) <= 0.8 * limit
    assert "--maxmemory-policy volatile-lru" in command


@pytest.mark.parametrize("name", ["rabbitmq", "postgresql"])
def test_statefulset_volumes(objects: tuple[Obj, ...], overlay: str, name: str) -> None:
    statefulset = manifests.find(objects, "StatefulSet", name)
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    size, storage_class = VOLUMES[overlay][name]
    assert claim["spec"]["resources"]["requests"]["storage"] == size
    assert claim["spec"]["storageClassName"] == storage_class
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_every_claim_names_the_overlay_storage_class(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    expected = {"ec2": "gp3", "kind": "standard"}[overlay]
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            assert obj["spec"]["storageClassName"] == expected, obj["metadata"]["name"]
    classes = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "StorageClass"}
    assert classes == ({"gp3"} if overlay == "ec2" else set())
