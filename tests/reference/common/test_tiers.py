"""The tier layout agrees with itself and with the queue topology's workers."""

from __future__ import annotations

import pytest

from reference.common import tiers, topology


def test_workload_names_are_unique_and_on_known_tiers() -> None:
    names = [workload.name for workload in tiers.WORKLOADS]
    assert len(names) == len(set(names))
    known = {node.tier for node in tiers.NODES}
    assert {workload.tier for workload in tiers.WORKLOADS} <= known


def test_every_celery_worker_is_a_workload_of_its_tier() -> None:
    for spec in topology.WORKERS:
        workload = tiers.workload(f"celery-{spec.name}-worker")
        assert (workload.tier, workload.replicas) == (spec.tier, spec.replicas), spec.name


def test_workloads_on_filters_by_tier_and_budget() -> None:
    api = {workload.name for workload in tiers.workloads_on("api")}
    assert {"auth-service", "celery-api-worker"} <= api
    assert "celery-api-worker" not in {w.name for w in tiers.workloads_on("api", "seed")}
    assert {w.name for w in tiers.workloads_on("api", "headroom")} == {"celery-api-worker"}
    with pytest.raises(KeyError):
        tiers.workload("no-such-workload")
