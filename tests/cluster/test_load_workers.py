"""The kind overlay's Locust workers (cluster/overlays/kind/load), offline: the Deployment the
harness scales (``wastecoach kind --load-workers N``) runs ``wastecoach load-worker`` against the
master its variable names, and its NetworkPolicy lets it reach the cluster's DNS, the gateway,
moto's S3 and the master's port outside the cluster, and nothing else."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.providers.kind import (
    IN_CLUSTER_GATEWAY,
    IN_CLUSTER_S3,
    LOAD_MASTER_PORT,
    LOAD_WORKERS,
)
from loadtests.protocol import MASTER_ENV
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

# kind's network gateway on a typical Linux Docker engine: where the nodes reach this machine.
HOST = "172.18.0.1"


def workers(kind: tuple[Obj, ...]) -> manifests.PodTemplate:
    namespace, name = LOAD_WORKERS
    pod = manifests.template(kind, name)
    assert pod.namespace == namespace
    return pod


def kube_dns() -> manifests.PodTemplate:
    """CoreDNS as kind deploys it (not part of our manifests)."""
    labels = {"k8s-app": "kube-dns"}
    obj = {"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}}
    return manifests.PodTemplate("Deployment", "coredns", "kube-system", 2, obj)


def test_no_worker_runs_until_a_run_scales_them(kind: tuple[Obj, ...]) -> None:
    assert workers(kind).replicas == 0


def test_the_workers_run_load_worker_against_the_master_the_harness_sets(
    kind: tuple[Obj, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    (container,) = workers(kind).containers
    assert container["name"] == "worker"  # the container KindCluster.scale_load_workers patches
    assert container["image"] == "wastecoach/reference:kind"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env[MASTER_ENV].endswith(f":{LOAD_MASTER_PORT}")
    # The command, with that variable, execs a Locust worker of that master.
    execs: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda _path, argv: execs.append(list(argv)))
    command = container["command"]
    assert command[0] == "wastecoach"
    result = CliRunner().invoke(app, command[1:], env={MASTER_ENV: env[MASTER_ENV]})
    assert result.exit_code == 0, result.output
    assert [argv[1:] for argv in execs] == [["-m", "loadtests.worker", "--master", env[MASTER_ENV]]]


def test_the_in_cluster_gateway_is_the_gateway_service(kind: tuple[Obj, ...]) -> None:
    url = urlsplit(IN_CLUSTER_GATEWAY)
    name, namespace, *_ = url.netloc.split(".")
    service = manifests.find(kind, "Service", name, namespace)
    assert [port["port"] for port in service["spec"]["ports"]] == [80]
    gate = next(
        obj
        for obj in kind
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("release-gate")
    )
    assert gate["data"]["GATE_TARGET"] == IN_CLUSTER_GATEWAY  # the release gate's target too


def test_the_workers_reach_dns_the_gateway_s3_and_the_master(kind: tuple[Obj, ...]) -> None:
    worker = workers(kind)
    gateway = manifests.template(kind, "gateway")
    s3 = manifests.template(kind, "fake-s3")
    s3_port = int(IN_CLUSTER_S3.rsplit(":", 1)[1])
    assert manifests.egress_allowed(kind, worker, 53, target=kube_dns(), protocol="UDP")
    assert manifests.egress_allowed(kind, worker, gateway.resolve_port("http"), target=gateway)
    assert manifests.egress_allowed(kind, worker, s3.resolve_port("http"), target=s3)
    assert s3.resolve_port("http") == s3_port
    assert manifests.egress_allowed(kind, worker, LOAD_MASTER_PORT, address=HOST)
    # ... and the other side lets them in: no ingress policy refuses them.
    assert manifests.ingress_allowed(kind, worker, gateway, gateway.resolve_port("http"))
    assert manifests.ingress_allowed(kind, worker, s3, s3_port)


@pytest.mark.parametrize(
    ("name", "port"),
    [("rabbitmq", 5672), ("postgresql", 5432), ("redis", 6379), ("fake-openai", 8080)],
)
def test_the_workers_reach_nothing_else(kind: tuple[Obj, ...], name: str, port: int) -> None:
    worker = workers(kind)
    assert not manifests.egress_allowed(kind, worker, port, target=manifests.template(kind, name))


def test_outside_the_cluster_the_workers_reach_the_masters_port_only(
    kind: tuple[Obj, ...],
) -> None:
    worker = workers(kind)
    assert not manifests.egress_allowed(kind, worker, LOAD_MASTER_PORT + 1, address=HOST)
    assert not manifests.egress_allowed(kind, worker, 443, address="93.184.216.34")
    gateway = manifests.template(kind, "gateway")
    # A pod without the policy (the gateway) is not held to it: the evaluator itself.
    assert manifests.egress_allowed(kind, gateway, 443, address="93.184.216.34")
