"""The seed's four-node tier layout: the one place that says what runs where, with what budget.

The Kubernetes manifests, the kind cluster configuration and the harness's per-tier resource
report all derive from (or are tested against) this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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


# "seed": the seed's budget table gives the workload's CPU and memory, and those budgets fill each
# node up to its headroom. "headroom": a pod the table leaves out (the manifests' requests); it
# runs out of its node's headroom, and tests/cluster bounds how much of it such pods take.
Budget = Literal["seed", "headroom"]


@dataclass(frozen=True)
class Workload:
    """A deployment or statefulset: replicas and the CPU and memory of all of them together.

    Every Deployment and StatefulSet of ``cluster/`` (bar the kind overlay's fakes, gateway and
    Locust workers) is one of these; per-replica requests are the totals divided by the replicas.
    """

    name: str
    namespace: str
    tier: str
    replicas: int
    cpu_millis: int  # total across replicas
    memory_mib: int
    kind: str = "Deployment"
    budget: Budget = "seed"

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
    # Pod status for the CrashLoopBackOff alert.
    Workload("kube-state-metrics", "monitoring", "control", 1, 50, 128, budget="headroom"),
    # The resource metrics the waste-service HPA scales on.
    Workload("metrics-server", "kube-system", "control", 1, 50, 128, budget="headroom"),
    # Tier 2: synchronous API ("Reactor").
    Workload("auth-service", "auth", "api", 2, 400, 614),
    Workload("users-service", "users", "api", 1, 200, 307),
    Workload("locations-service", "locations", "api", 1, 200, 307),
    # The q.api consumer: seed section 3 puts it on worker-1, section 2 forgets it.
    Workload("celery-api-worker", "waste", "api", 2, 200, 384, budget="headroom"),
    # Tier 3: asynchronous workers ("Task Queue").
    Workload("celery-ai-worker", "waste", "async", 3, 800, 1536),
    Workload("celery-batch-worker", "waste", "async", 2, 400, 819),
    Workload("waste-service", "waste", "async", 2, 400, 614),
    # Publishes the q.sched tasks (seed section 3).
    Workload("celery-beat", "waste", "async", 1, 50, 128, budget="headroom"),
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


def workloads_on(tier: str, budget: Budget | None = None) -> tuple[Workload, ...]:
    """The workloads of a tier; only those of one budget when ``budget`` is given."""
    return tuple(w for w in WORKLOADS if w.tier == tier and budget in (None, w.budget))


def workload(name: str) -> Workload:
    for item in WORKLOADS:
        if item.name == name:
            return item
    raise KeyError(f"no workload named {name!r}; known: {', '.join(w.name for w in WORKLOADS)}")


@dataclass(frozen=True)
class TierBudget:
    """What the workloads of one tier may use together: the sum of their budgets."""

    tier: str
    cpu_millis: int
    memory_mib: int

    @property
    def cpu_cores(self) -> float:
        return self.cpu_millis / 1000

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024


def tier_budget(tier: str) -> TierBudget:
    """The CPU and memory of every workload of ``tier`` (the seed's and the headroom pods)."""
    node_for_tier(tier)  # an unknown tier is a KeyError naming the known ones
    on_tier = workloads_on(tier)
    return TierBudget(tier, sum(w.cpu_millis for w in on_tier), sum(w.memory_mib for w in on_tier))


# The services the local stack's gateway serves, all in each of its processes (the seed runs
# each behind the load balancer with its own replicas).
GATEWAY_SERVICES = ("auth-service", "users-service", "locations-service", "waste-service")


def gateway_processes() -> int:
    """The local gateway's processes: as many as the most replicated service it serves has
    replicas (every process serves every route, so more than that adds memory and database
    pools, not capacity, on the seed's 2-core API node)."""
    return max(workload(name).replicas for name in GATEWAY_SERVICES)
