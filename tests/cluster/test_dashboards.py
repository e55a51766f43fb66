"""The Grafana dashboards are code: valid JSON, every query PromQL that reads a metric a scraped
component exports, and provisioned in every overlay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import manifests
from tests.cluster.manifests import Obj
from tests.cluster.test_monitoring import (
    EXPORTERS,
    MONITORING,
    metric_names,
    our_metric_families,
    scraped_workloads,
)

pytestmark = pytest.mark.cluster

GRAFANA = MONITORING / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Metric families of the kubelet's cAdvisor, read through Prometheus's kubernetes-cadvisor job.
CADVISOR_PREFIX = "container_"
# What the seed's SRE watches (section 7) and the per-stage job times: one metric each at least.
MUST_SHOW = {
    "RabbitMQ queue length": "rabbitmq_queue_messages",
    "RabbitMQ rate": "rabbitmq_global_messages_delivered_total",
    "Celery success and failure": "wastecoach_tasks_total",
    "request rate and 5xx": "wastecoach_http_requests_total",
    "request latency": "wastecoach_http_request_seconds_bucket",
    "PostgreSQL connections": "wastecoach_db_connections",
    "PostgreSQL query time": "wastecoach_db_query_seconds_bucket",
    "node resources": "node_cpu_seconds_total",
    "pod resources": "container_cpu_usage_seconds_total",
    "stage_time": "wastecoach_job_stage_seconds_bucket",
    "server_processing_time and stack_overhead": "wastecoach_job_seconds_bucket",
}


def dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", ())
    ]


def test_there_are_dashboards_with_unique_uids_and_queries() -> None:
    assert DASHBOARDS
    boards = [dashboard(path) for path in DASHBOARDS]
    uids = [board["uid"] for board in boards]
    assert len(set(uids)) == len(uids)
    for board in boards:
        assert board["title"] and exprs(board), board["uid"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), board["uid"]


def test_every_query_parses_and_reads_a_metric_that_is_exported_and_scraped(
    objects: tuple[Obj, ...],
) -> None:
    scraped = scraped_workloads(objects)
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    ours = our_metric_families()
    shown: set[str] = set()
    for path in DASHBOARDS:
        for title, expr in exprs(dashboard(path)):
            names = metric_names(expr)
            assert names, (path.name, title)
            shown |= names
            for name in names:
                where = f"{path.name}, {title!r}: {name}"
                if name.startswith("wastecoach_"):
                    assert name in ours, f"{where} is not exported"
                elif name.startswith(CADVISOR_PREFIX):
                    assert "kubernetes-cadvisor" in jobs, f"{where}: cAdvisor is not scraped"
                else:
                    exporter = next(
                        (w for prefix, w in EXPORTERS.items() if name.startswith(prefix)), None
                    )
                    assert exporter is not None, f"{where}: who exports it?"
                    assert exporter in scraped, f"{where}: {exporter} is not scraped"
    missing = {what: name for what, name in MUST_SHOW.items() if name not in shown}
    assert not missing


def test_grafana_is_provisioned_with_every_dashboard(objects: tuple[Obj, ...]) -> None:
    def config_map(prefix: str) -> Obj:
        return next(
            obj
            for obj in objects
            if obj["kind"] == "ConfigMap"
            and obj["metadata"]["name"].startswith(prefix)
            and obj["metadata"].get("namespace") == "monitoring"
        )

    boards = config_map("grafana-dashboards-")
    assert sorted(boards["data"]) == sorted(path.name for path in DASHBOARDS)
    for name, text in boards["data"].items():
        assert json.loads(text) == dashboard(GRAFANA / "dashboards" / name)
    (provider_file,) = config_map("grafana-dashboard-provider").get("data", {}).values()
    (provider,) = yaml.safe_load(provider_file)["providers"]

    grafana = manifests.template(objects, "grafana")
    (container,) = grafana.containers
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {
        v["name"]: v["configMap"]["name"] for v in grafana.spec["volumes"] if "configMap" in v
    }
    assert mounts["dashboard-provider"] == "/etc/grafana/provisioning/dashboards"
    assert (
        volumes["dashboard-provider"]
        == config_map("grafana-dashboard-provider")["metadata"]["name"]
    )
    assert mounts["dashboards"] == provider["options"]["path"]
    assert volumes["dashboards"] == boards["metadata"]["name"]
