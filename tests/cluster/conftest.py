"""Fixtures of the offline cluster checks: the rendered overlays (skipped without kubectl)."""

from __future__ import annotations

import pytest

from tests.cluster import manifests


def _rendered(overlay: str) -> tuple[manifests.Obj, ...]:
    if manifests.kubectl() is None:
        pytest.skip("kubectl is not installed: it renders the overlays (kubectl kustomize)")
    return manifests.render(overlay)


@pytest.fixture(params=manifests.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[manifests.Obj, ...]:
    """Every object of one overlay, as ``kubectl kustomize`` renders it."""
    return _rendered(overlay)


@pytest.fixture
def ec2() -> tuple[manifests.Obj, ...]:
    return _rendered("ec2")


@pytest.fixture
def kind() -> tuple[manifests.Obj, ...]:
    return _rendered("kind")
