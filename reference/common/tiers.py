"""The seed's four-node tier layout: the one place that says what runs where, with what budget.

The Kubernetes manifests, the kind cluster configuration and the harness's per-tier resource
report all derive from (or are tested against) this module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """A node of the production cluster (an EC2 instance) and the tier it hosts."""

    tier: str
    name: str
    instance: str
    cpu_millis: int
    memory_mib: int
    disk_gib: int
    headroom_cpu_millis: int
    headroom_memory_mib: int


@dataclass(frozen=True)
class Workload:
    """A deployment or statefulset: replicas and the seed's budget for all of them together."""

    name: str
    namespace: str
    tier: str
    replicas: int
    cpu_millis: int  # total across replicas, as the seed's table gives it
    memory_mib: int
    kind: str = "Deployment"

    @property
    def cpu_millis_per_replica(self) -> int:
        return self.cpu_millis // self.replicas

    @property
    def memory_mib_per_replica(self) -> int:
        return self.memory_mib // self.replicas


NODES: tuple[Node, ...] = (
    Node("control", "master", "t3.large", 2000, 8192, 80, 500, 3072),
    Node("api", "worker-1", "t3.medium", 2000, 4096, 40, 1200, 2867),
    Node("async", "worker-2", "t3.medium", 2000, 4096, 40, 400, 1126),
    Node("storage", "storage", "t3.large", 2000, 8192, 100, 700, 2048),
)

WORKLOADS: tuple[Workload, ...] = (
    # Tier 1: control plane and monitoring (only what we deploy ourselves is listed).
    Workload("prometheus", "monitoring", "control", 1, 300, 1536),
    Workload("grafana", "monitoring", "control", 1, 200, 512),
    # Tier 2: synchronous API ("Reactor").
    Workload("auth-service", "auth", "api", 2, 400, 614),
    Workload("users-service", "users", "api", 1, 200, 307),
    Workload("locations-service", "locations", "api", 1, 200, 307),
    # Tier 3: asynchronous workers ("Task Queue").
    Workload("celery-ai-worker", "waste", "async", 3, 800, 1536),
    Workload("celery-batch-worker", "waste", "async", 2, 400, 819),
    Workload("waste-service", "waste", "async", 2, 400, 614),
    # Tier 4: stateful storage.
    Workload("rabbitmq", "messaging", "storage", 3, 600, 3072, "StatefulSet"),
    Workload("postgresql", "default", "storage", 1, 500, 2048, "StatefulSet"),
    Workload("redis", "default", "storage", 1, 200, 1024),
)


def node_for_tier(tier: str) -> Node:
    for node in NODES:
        if node.tier == tier:
            return node
    raise KeyError(f"no tier {tier!r}; known: {', '.join(n.tier for n in NODES)}")


def workloads_on(tier: str) -> tuple[Workload, ...]:
    return tuple(w for w in WORKLOADS if w.tier == tier)
