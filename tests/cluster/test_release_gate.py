"""The release gate inside the cluster, offline: the ArgoCD PostSync hook Job (both overlays)
and the Argo Rollouts AnalysisTemplate (cluster/rollouts) render, validate strictly (Kubernetes
1.28, and the AnalysisTemplate against Argo Rollouts' published CRD schema, vendored in
tests/cluster/schemas), agree with each other, run a command the CLI accepts, and keep a failed
gate (exit 1) apart from a harness failure (exit 2)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.stack.processes import free_port
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

SCHEMAS = Path(__file__).parent / "schemas"
# From argoproj/argo-rollouts (Apache-2.0) at 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d,
# manifests/crds/analysis-template-crd.yaml: spec.versions[v1alpha1].schema.openAPIV3Schema.
ANALYSIS_TEMPLATE_SCHEMA = SCHEMAS / "argo-rollouts-analysistemplate-v1alpha1.json"
ARGOCD_HOOKS = {"PreSync", "Sync", "PostSync", "SyncFail", "PostDelete", "Skip"}
ARGOCD_DELETE_POLICIES = {"HookSucceeded", "HookFailed", "BeforeHookCreation"}


def rollouts() -> tuple[Obj, ...]:
    if manifests.kubectl() is None:
        pytest.skip("kubectl is not installed: it renders the manifests (kubectl kustomize)")
    done = subprocess.run(
        [str(manifests.kubectl()), "kustomize", str(manifests.CLUSTER / "rollouts")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def template() -> Obj:
    (found,) = [obj for obj in rollouts() if obj["kind"] == "AnalysisTemplate"]
    return found


def hook(objects: tuple[Obj, ...]) -> Obj:
    return manifests.find(objects, "Job", "wastecoach-release-gate", "waste")


def strict(schema: Any) -> Any:
    """The CRD schema as the API server would apply it to a typed client: no field it does not
    name (a CRD prunes unknown fields silently; a typo must fail here instead)."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def test_the_analysis_template_validates_against_the_argo_rollouts_crd_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = strict(json.loads(ANALYSIS_TEMPLATE_SCHEMA.read_text()))
    validator = jsonschema.Draft7Validator(schema)
    document = template()
    assert document["apiVersion"] == "argoproj.io/v1alpha1"
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not problems, problems
    broken = copy.deepcopy(document)
    broken["spec"]["metrics"][0]["provider"]["job"]["spec"]["backofLimit"] = 2  # a typo
    assert list(validator.iter_errors(broken)), "the strict schema must refuse unknown fields"


def test_the_analysis_job_validates_as_a_kubernetes_1_28_job() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    job = template()["spec"]["metrics"][0]["provider"]["job"]
    document = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, **job}
    document["metadata"] = {"name": "wastecoach-release-gate", **job["metadata"]}
    kubernetes_validate.validate(document, "1.28", strict=True)


def test_the_analysis_is_decided_by_the_job_outcome_alone() -> None:
    metrics = template()["spec"]["metrics"]
    assert [metric["name"] for metric in metrics] == ["release-gate"]
    (metric,) = metrics
    assert set(metric["provider"]) == {"job"}
    assert metric["count"] == 1 and metric["failureLimit"] == 0
    arguments = {arg["name"] for arg in template()["spec"]["args"]}
    used = set(re.findall(r"\{\{args\.(\w+)\}\}", json.dumps(metric)))
    assert used == arguments


def _comparable(job_spec: Obj) -> Obj:
    """The Job spec without where its settings come from (ConfigMap or analysis arguments)."""
    spec = copy.deepcopy(job_spec)
    spec["template"]["metadata"]["labels"].pop("app.kubernetes.io/part-of", None)  # base's label
    container = spec["template"]["spec"]["containers"][0]
    container.pop("env", None)
    container["envFrom"] = [e for e in container["envFrom"] if "secretRef" in e]
    return spec


def test_the_hook_and_the_analysis_run_the_same_job(ec2: tuple[Obj, ...]) -> None:
    job = hook(ec2)
    analysis = template()["spec"]["metrics"][0]["provider"]["job"]
    assert _comparable(job["spec"]) == _comparable(analysis["spec"])
    assert analysis["metadata"]["labels"] == {
        k: v for k, v in job["metadata"]["labels"].items() if not k.endswith("part-of")
    }


def test_the_hook_runs_after_a_healthy_sync_and_replaces_its_last_run(
    objects: tuple[Obj, ...],
) -> None:
    annotations = hook(objects)["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert set(annotations["argocd.argoproj.io/hook"].split(",")) <= ARGOCD_HOOKS
    policies = annotations["argocd.argoproj.io/hook-delete-policy"].split(",")
    assert set(policies) <= ARGOCD_DELETE_POLICIES
    assert "HookSucceeded" not in policies  # the report and the logs stay for a reader


def test_a_failed_gate_fails_the_job_at_once_and_a_harness_failure_is_retried(
    objects: tuple[Obj, ...],
) -> None:
    spec = hook(objects)["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # a pod failure policy needs it
    rules = spec["podFailurePolicy"]["rules"]
    on_exit = [rule for rule in rules if "onExitCodes" in rule]
    assert on_exit == [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "gate", "operator": "In", "values": [1]},
            "onPodConditions": [],
        }
    ]
    assert spec["backoffLimit"] >= 1  # exit 2 counts against it: BackoffLimitExceeded


def test_the_hook_targets_the_stack_and_reads_the_cluster_prometheus(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    job = hook(objects)
    (ref,) = [
        e["configMapRef"]["name"]
        for e in job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        if "configMapRef" in e
    ]
    settings = manifests.find(objects, "ConfigMap", ref, "waste")["data"]
    prometheus = manifests.find(objects, "Service", "prometheus", "monitoring")
    port = prometheus["spec"]["ports"][0]["port"]
    assert settings["GATE_PROMETHEUS"] == f"http://prometheus.monitoring.svc.cluster.local:{port}"
    if overlay == "kind":
        gateway = manifests.find(objects, "Service", "gateway", "default")
        assert gateway["spec"]["ports"][0]["port"] == 80
        assert settings["GATE_TARGET"] == "http://gateway.default.svc.cluster.local"
    else:
        assert settings["GATE_TARGET"].startswith("https://")
    scenario = manifests.ROOT / "scenarios" / f"{settings['GATE_SCENARIO']}.toml"
    assert scenario.is_file()
    # The image puts the scenarios where the command looks for them.
    dockerfile = (manifests.CLUSTER / "Dockerfile").read_text()
    assert "COPY scenarios /opt/wastecoach/scenarios" in dockerfile


def _command(job: Obj, values: dict[str, str]) -> list[str]:
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    return [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], part) for part in command]


def test_the_job_command_is_one_the_cli_accepts(ec2: tuple[Obj, ...]) -> None:
    command = _command(
        hook(ec2),
        {
            "GATE_SCENARIO": "smoke",
            "GATE_TARGET": "http://gateway",
            "GATE_PROMETHEUS": "http://prometheus:9090",
            "WASTECOACH_BROKER_URL": "amqp://guest:guest@rabbitmq:5672//",
        },
    )
    assert command[:2] == ["wastecoach", "run"]
    accepted = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    for option in (part.split("=", 1)[0] for part in command[3:]):
        assert option in accepted, option


def test_a_scenario_that_cannot_start_exits_2_not_1(tmp_path: Path) -> None:
    """What the Job's pod failure policy relies on: a target that does not answer is the
    harness's failure (exit 2, retried), never a failed release (exit 1)."""
    closed = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(manifests.ROOT / "scenarios" / "smoke.toml"),
            f"--target={closed}",
            f"--prometheus={closed}",
            f"--reports={tmp_path}",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "does not answer" in result.output
