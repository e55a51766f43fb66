"""Prometheus scrapes every component, and the seed's five alerts read metrics that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from reference.common import telemetry
from tests.cluster import manifests
from tests.cluster.manifests import Obj

pytestmark = pytest.mark.cluster

MONITORING = manifests.CLUSTER / "base" / "monitoring"
# The seed's alerts (section 7): name, what it reads, its threshold.
SEED_ALERTS = {
    "DeadLetterQueueBacklog": ('queue="q.dlq"', "> 100"),
    "PodCrashLooping": ('reason="CrashLoopBackOff"', ">= 1"),
    "NodeHighCPU": ('mode="idle"', "> 85"),
    "NodeDiskAlmostFull": ("node_filesystem_avail_bytes", "> 80"),
    "HighServerErrorRatio": ('status=~"5.."', "> 0.01"),
}
# Which component exports a metric family, by prefix, and the workload that must be scraped.
EXPORTERS = {
    "rabbitmq_": "rabbitmq",
    "kube_": "kube-state-metrics",
    "node_": "node-exporter",
}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (it must parse as PromQL)."""
    promql_parser = pytest.importorskip(
        "promql_parser", reason="pip install promql-parser (the cluster extra)"
    )
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_the_seed_five_alerts_are_there_with_their_thresholds() -> None:
    found = {rule["alert"]: rule for rule in rules()}
    assert set(found) == set(SEED_ALERTS)
    for name, (reads, threshold) in SEED_ALERTS.items():
        expr = " ".join(found[name]["expr"].split())
        assert reads in expr, name
        assert expr.endswith(threshold), (name, expr)
        assert found[name]["labels"]["severity"] in ("warning", "critical")
        assert found[name]["annotations"]["summary"]


def our_metric_families() -> set[str]:
    names = set()
    for value in vars(telemetry).values():
        if isinstance(value, MetricWrapperBase):
            for metric in value.describe():
                names |= {sample for sample in (metric.name, metric.name + "_total")}
                names |= {metric.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def scraped_workloads(objects: tuple[Obj, ...]) -> set[str]:
    """The workloads whose pods Prometheus scrapes (by their annotation)."""
    return {
        pod.name
        for pod in manifests.pod_templates(objects)
        if pod.annotations.get("prometheus.io/scrape") == "true"
    }


def test_every_alert_reads_a_metric_a_scraped_component_exports(
    objects: tuple[Obj, ...],
) -> None:
    scraped = scraped_workloads(objects)
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        for name in names:
            if name.startswith("wastecoach_"):
                assert name in our_metric_families(), f"{rule['alert']}: {name} is not exported"
                continue
            exporter = next(
                (workload for prefix, workload in EXPORTERS.items() if name.startswith(prefix)),
                None,
            )
            assert exporter is not None, f"{rule['alert']}: who exports {name}?"
            assert exporter in scraped, f"{rule['alert']}: {exporter} is not scraped"
    # The 5xx ratio groups by the status label our services record.
    assert "status" in telemetry.HTTP_REQUESTS._labelnames


def test_rabbitmq_exports_per_queue_depth() -> None:
    conf = (manifests.CLUSTER / "base/messaging/rabbitmq/rabbitmq.conf").read_text()
    assert re.search(r"^prometheus\.return_per_object_metrics = true$", conf, re.M)
    plugins = (manifests.CLUSTER / "base/messaging/rabbitmq/enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins


def test_every_service_and_worker_is_scraped_on_a_port_it_serves(
    objects: tuple[Obj, ...],
) -> None:
    for pod in manifests.pod_templates(objects):
        if pod.labels.get("app.kubernetes.io/component") not in ("api", "worker"):
            continue
        assert pod.annotations.get("prometheus.io/scrape") == "true", pod.name
        assert int(pod.annotations["prometheus.io/port"]) in pod.ports().values(), pod.name
        assert pod.annotations["prometheus.io/path"] == "/metrics"


def test_prometheus_loads_the_rules_file_it_is_given(objects: tuple[Obj, ...]) -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    prometheus = manifests.template(objects, "prometheus")
    (container,) = prometheus.containers
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    (pattern,) = config["rule_files"]
    assert pattern == f"{mounts['rules']}/*.yml"
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "kubernetes-pods" in jobs
    rules_map = next(
        obj
        for obj in objects
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("prometheus-rules")
    )
    assert list(rules_map["data"]) == ["alerts.yml"]
