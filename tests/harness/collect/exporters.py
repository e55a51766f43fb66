"""A stand-in for the kubelets' cAdvisor, for a Prometheus that scrapes a local stack.

A cluster's Prometheus reads CPU and memory per container from cAdvisor, labelled with the node's
tier (cluster/base/monitoring/prometheus/prometheus.yml); queue depths and Redis clients come from
the services' and workers' own /metrics, locally as on a cluster. Here there is no kubelet: this
publishes each local process tree's CPU seconds and RSS under cAdvisor's metric names and labels,
so the registry's PromQL runs unchanged. It runs in a process of its own (a scrape must not wait
on the test process's GIL): ``python -m tests.harness.collect.exporters NAME=TIER:PID ...``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import psutil
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from harness.collect.resources import STORAGE_NAMES
from harness.stack.local import LocalStack

# The namespaces of the seed's workloads (the registry's PromQL keeps only ours); the gateway
# serves every service and the workers are in waste.
NAMESPACES = {"postgresql": "default", "redis": "default", "rabbitmq": "messaging"}


class TreeCollector(Collector):
    """CPU seconds and RSS of each watched process and its descendants, one /proc pass a scrape."""

    def __init__(self, roots: dict[str, tuple[str, int]]) -> None:
        self.roots = roots

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        children: dict[int, list[int]] = defaultdict(list)
        usage: dict[int, tuple[float, float]] = {}
        for proc in psutil.process_iter(["ppid", "cpu_times", "memory_info"]):
            info = proc.info
            if info["cpu_times"] is None or info["memory_info"] is None:
                continue
            children[info["ppid"]].append(proc.pid)
            times = info["cpu_times"]
            usage[proc.pid] = (times.user + times.system, float(info["memory_info"].rss))
        labels = ["namespace", "pod", "container", "tier"]
        cpu = CounterMetricFamily("container_cpu_usage_seconds", "CPU seconds", labels=labels)
        memory = GaugeMetricFamily("container_memory_working_set_bytes", "RSS", labels=labels)
        for name, (tier, pid) in self.roots.items():
            tree, seconds, rss = [pid], 0.0, 0.0
            while tree:
                current = tree.pop()
                used = usage.get(current, (0.0, 0.0))
                seconds, rss = seconds + used[0], rss + used[1]
                tree += children.get(current, [])
            kind = name.split("-")[0]
            values = [NAMESPACES.get(kind, "waste"), name, kind, tier]
            cpu.add_metric(values, seconds)
            memory.add_metric(values, rss)
        yield cpu
        yield memory


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(argv: list[str]) -> None:
    roots = {}
    for item in argv:
        name, rest = item.split("=", 1)
        tier, pid = rest.rsplit(":", 1)
        roots[name] = (tier, int(pid))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TreeCollector(roots))
    server = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=_Quiet)
    print(server.server_port, flush=True)  # the parent reads the port it got
    server.serve_forever()


def watched(stack: LocalStack, tiers: dict[str, str]) -> dict[str, tuple[str, int]]:
    """The stack's processes on a seed tier, and the storage servers it uses (by name)."""
    roots = {
        name: (tiers[name], p.pid)
        for name, p in stack.processes.items()
        if p.pid and tiers.get(name) not in (None, "fakes")
    }
    for proc in psutil.process_iter(["name"]):
        label = STORAGE_NAMES.get(proc.info["name"] or "")
        if label:
            roots[f"{label}-{proc.pid}"] = ("storage", proc.pid)
    return roots


@contextlib.contextmanager
def serve_cadvisor(stack: LocalStack, tiers: dict[str, str]) -> Iterator[str]:
    """Run the stand-in on a free loopback port; yields its /metrics URL."""
    args = [f"{name}={tier}:{pid}" for name, (tier, pid) in watched(stack, tiers).items()]
    with subprocess.Popen(
        [sys.executable, "-m", "tests.harness.collect.exporters", *args],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())  # blocks until it is listening
            yield f"http://127.0.0.1:{port}/metrics"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    _serve(sys.argv[1:])
