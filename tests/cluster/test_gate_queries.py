"""The release gate's PromQL (declared next to each metric in harness/gates/measurements.py)
reads what the cluster's Prometheus really has: metrics the project exports or cAdvisor serves,
from scrape jobs that exist, grouped by labels those jobs attach. Checked offline."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from harness.collect.promql import prometheus_metrics
from harness.gates.measurements import METRICS
from reference.common import telemetry, tiers
from reference.workers import metrics as worker_metrics
from tests.cluster import manifests

pytestmark = pytest.mark.cluster

PROMETHEUS_YML = manifests.CLUSTER / "base" / "monitoring" / "prometheus" / "prometheus.yml"
# cAdvisor's container families the per-tier gates read (the kubelet serves them on every node).
CADVISOR = {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"}


def promql() -> Any:
    return pytest.importorskip(
        "promql_parser", reason="pip install promql-parser (the cluster extra)"
    )


def _walk(expr: str) -> tuple[set[str], list[list[str]], dict[str, str]]:
    """Metric names selected, each aggregation's ``by`` labels (outermost first) and the
    namespace matchers' regexes."""
    parser = promql()
    names: set[str] = set()
    groupings: list[list[str]] = []
    namespaces: dict[str, str] = {}

    def visit(node: object) -> None:
        if isinstance(node, parser.VectorSelector) and node.name:
            names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "namespace":
                    namespaces[node.name] = matcher.value
        if isinstance(node, parser.AggregateExpr):
            groupings.append(list(node.modifier.labels) if node.modifier is not None else [])

    parser.walk(parser.parse(expr), visit)
    return names, groupings, namespaces


def _ours() -> dict[str, tuple[str, ...]]:
    """Every sample name the services and workers export, with its label names."""
    out: dict[str, tuple[str, ...]] = {}
    for module in (telemetry, worker_metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                for family in value.describe():
                    labels = tuple(value._labelnames)
                    for suffix in ("", "_total", "_bucket", "_sum", "_count"):
                        out[family.name + suffix] = labels
    return out


def _jobs() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(PROMETHEUS_YML.read_text())
    return {job["job_name"]: job for job in document["scrape_configs"]}


def _target_labels(job: dict[str, Any]) -> dict[str, list[str]]:
    return {
        rule["target_label"]: rule.get("source_labels", [])
        for rule in job.get("relabel_configs", [])
        if "target_label" in rule
    }


def test_the_server_side_gauges_have_queries() -> None:
    assert set(prometheus_metrics()) >= {
        "queue_depth",
        "dlq_length",
        "redis_clients",
        "tier_cpu",
        "tier_memory",
    }


@pytest.mark.parametrize("name", prometheus_metrics())
def test_each_query_reads_exported_metrics_grouped_by_the_metric_tags(name: str) -> None:
    spec = METRICS[name]
    assert spec.promql is not None
    names, groupings, _ = _walk(spec.promql.expr)
    ours = _ours()
    unknown = names - set(ours) - CADVISOR
    assert not unknown, f"{name} reads {unknown}, which nothing the cluster scrapes exports"
    # The series a query returns carry exactly the metric's tags (the result labels become tags).
    assert set(groupings[0]) == set(spec.tags), (name, groupings)
    cadvisor_labels = set(_target_labels(_jobs()["kubernetes-cadvisor"]))
    for label in {label for grouping in groupings for label in grouping}:
        carried = any(label in ours.get(metric, ()) for metric in names) or bool(
            names & CADVISOR and label in cadvisor_labels
        )
        assert carried, f"{name} groups by {label!r}, a label none of {names} carries"


def test_our_gauges_come_from_the_annotated_pods_job(ec2: tuple[manifests.Obj, ...]) -> None:
    job = _jobs()["kubernetes-pods"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    scraped = {
        pod.name
        for pod in manifests.pod_templates(ec2)
        if pod.annotations.get("prometheus.io/scrape") == "true"
    }
    # The processes that sample the queue depths and Redis clients are scraped.
    assert {"celery-ai-worker", "celery-batch-worker", "waste-service"} <= scraped


def test_cadvisor_is_scraped_and_labelled_with_the_node_tier() -> None:
    job = _jobs()["kubernetes-cadvisor"]
    assert job["kubernetes_sd_configs"] == [{"role": "node"}]
    paths = [
        rule["replacement"]
        for rule in job["relabel_configs"]
        if rule.get("target_label") == "__metrics_path__"
    ]
    assert paths == ["/api/v1/nodes/$1/proxy/metrics/cadvisor"]
    label = "__meta_kubernetes_node_label_" + re.sub(r"[^a-zA-Z0-9]", "_", manifests.TIER_LABEL)
    assert _target_labels(job)["tier"] == [label]
    # The kind nodes (and the ec2 ones, README) carry the tier label the relabelling reads.
    assert {node.tier for node in manifests.kind_nodes()} == {n.tier for n in tiers.NODES}


def test_prometheus_may_read_cadvisor_through_the_node_proxy(
    ec2: tuple[manifests.Obj, ...],
) -> None:
    role = manifests.find(ec2, "ClusterRole", "wastecoach-prometheus")
    rules = [rule for rule in role["rules"] if "get" in rule["verbs"]]
    granted = {resource for rule in rules for resource in rule["resources"]}
    assert "nodes/proxy" in granted


def test_the_tier_queries_keep_exactly_our_namespaces() -> None:
    ours = {w.namespace for w in tiers.WORKLOADS}
    for name in ("tier_cpu", "tier_memory"):
        spec = METRICS[name]
        assert spec.promql is not None
        _, _, namespaces = _walk(spec.promql.expr)
        (pattern,) = namespaces.values()
        kept = set(pattern.split("|"))
        assert kept == ours - {"kube-system"}, (name, kept)  # metrics-server is not ours to count
