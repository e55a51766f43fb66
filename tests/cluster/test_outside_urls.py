"""Every pod that calls the outside world (OAuth providers, Kakao Map, OpenAI, S3) is told where
it is, and the paths reference/ appends to those base URLs land where they should: on the fakes
in the kind overlay, on the real services in the ec2 overlay."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from harness.mocks import oauth_server
from reference.auth.providers import PROVIDERS, Endpoint
from reference.common import topology
from reference.common.settings import Settings
from reference.locations.kakao import KEYWORD_PATH
from tests.cluster import manifests
from tests.cluster.manifests import Obj
from tests.real_providers import REAL_OAUTH_ENDPOINTS

pytestmark = pytest.mark.cluster

PREFIX = "WASTECOACH_"
# Each provider's base URL, which every pod that logs in must be given; the authorize and
# profile endpoints have their own settings too, which fall back to it.
OAUTH_SETTINGS = {name: f"{PREFIX}OAUTH_{name.upper()}_BASE_URL" for name in PROVIDERS}
ENDPOINTS: tuple[Endpoint, ...] = ("authorize", "token", "profile")


def worker_running(task: str) -> str:
    """The Celery worker Deployment that consumes a task's queue."""
    queue = topology.queue_for_task(task).name
    (spec,) = [spec for spec in topology.WORKERS if queue in spec.queues]
    return f"celery-{spec.name}-worker"


def endpoint_settings(env: dict[str, str]) -> Settings:
    """The settings a pod with this environment reads for the providers' endpoints; only those
    are taken from it (and none from this process's environment)."""
    names = [
        name
        for name in Settings.model_fields
        if name.startswith("oauth_") and name.endswith("_base_url") and "redirect" not in name
    ]
    return Settings(
        **{
            name: env.get(f"{PREFIX}{name.upper()}", Settings.model_fields[name].default)
            for name in names
        }
    )


def consumers(overlay: str) -> dict[str, tuple[str, ...]]:
    """Each URL setting and the workloads that use it: auth-service builds the authorize URL,
    oauth.verify calls the token and profile endpoints; the kind gateway runs every service."""
    gateway = ("gateway",) if overlay == "kind" else ()
    oauth = ("auth-service", worker_running("oauth.verify"), *gateway)
    return {
        **{setting: oauth for setting in OAUTH_SETTINGS.values()},
        f"{PREFIX}KAKAO_BASE_URL": (worker_running("map.search"),),
        f"{PREFIX}OPENAI_BASE_URL": (worker_running("image.classify"),),
        f"{PREFIX}S3_ENDPOINT_URL": (
            "waste-service",
            "users-service",  # account deletion deletes the photos
            worker_running("image.analyze"),
            worker_running("report.generate"),
            worker_running("jobs.expire_uploads"),
            "wastecoach-migrate",  # then applies the bucket's lifecycle rule
            *gateway,
        ),
    }


def test_every_workload_that_calls_out_is_given_its_urls(
    objects: tuple[Obj, ...], overlay: str
) -> None:
    for setting, workloads in consumers(overlay).items():
        for workload in workloads:
            env = manifests.pod_environment(objects, workload)
            assert setting in env, f"overlays/{overlay}: {workload} is not given {setting}"


# --- kind: the fakes --------------------------------------------------------------------------

# The fake behind each setting (the module its pod runs) and the path its base URL must have.
KIND_FAKES = {
    **{
        setting: ("harness.mocks.oauth_server", f"/{name}")
        for name, setting in OAUTH_SETTINGS.items()
    },
    f"{PREFIX}KAKAO_BASE_URL": ("harness.mocks.kakao_server", ""),
    f"{PREFIX}OPENAI_BASE_URL": ("harness.mocks.openai_server", "/v1"),
    f"{PREFIX}S3_ENDPOINT_URL": ("harness.mocks.s3_server", ""),
}


def serving_module(objects: tuple[Obj, ...], url: str) -> str:
    """The ``python -m`` module run by the pods behind the Service a URL names, on its port."""
    parts = urlsplit(url)
    name, namespace, *_ = (parts.hostname or "").split(".")
    service = manifests.find(objects, "Service", name, namespace)
    assert parts.port in {port["port"] for port in service["spec"]["ports"]}, url
    (pod,) = [
        pod
        for pod in manifests.pod_templates(objects)
        if pod.namespace == namespace
        and manifests.selector_matches({"matchLabels": service["spec"]["selector"]}, pod.labels)
    ]
    command = pod.containers[0]["command"]
    return command[command.index("-m") + 1]


@pytest.mark.parametrize("setting", sorted(KIND_FAKES))
def test_kind_urls_point_at_the_fakes(kind: tuple[Obj, ...], setting: str) -> None:
    module, path = KIND_FAKES[setting]
    for workload in consumers("kind")[setting]:
        url = manifests.pod_environment(kind, workload)[setting]
        assert serving_module(kind, url) == module, f"{workload}: {setting}={url}"
        assert urlsplit(url).path == path, f"{workload}: {setting}={url} should end in {path!r}"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_kind_oauth_urls_compose_to_routes_of_the_fake(
    kind: tuple[Obj, ...], provider: str
) -> None:
    routes = {getattr(route, "path", None) for route in oauth_server.create_app().routes}
    for workload in consumers("kind")[OAUTH_SETTINGS[provider]]:
        settings = endpoint_settings(manifests.pod_environment(kind, workload))
        for endpoint in ENDPOINTS:
            url = PROVIDERS[provider].url(settings, endpoint)
            assert serving_module(kind, url) == "harness.mocks.oauth_server", f"{workload}: {url}"
            assert urlsplit(url).path in routes, f"{workload}: the fake serves no {url}"


# --- ec2: the real services -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "endpoint"), [(p, e) for p in sorted(PROVIDERS) for e in ENDPOINTS]
)
def test_ec2_oauth_urls_compose_to_the_real_endpoints(
    ec2: tuple[Obj, ...], provider: str, endpoint: Endpoint
) -> None:
    expected = dict(zip(ENDPOINTS, REAL_OAUTH_ENDPOINTS[provider], strict=True))[endpoint]
    for workload in consumers("ec2")[OAUTH_SETTINGS[provider]]:
        settings = endpoint_settings(manifests.pod_environment(ec2, workload))
        assert PROVIDERS[provider].url(settings, endpoint) == expected, workload


def test_ec2_kakao_map_url_composes_to_the_keyword_search(ec2: tuple[Obj, ...]) -> None:
    base = manifests.pod_environment(ec2, worker_running("map.search"))[f"{PREFIX}KAKAO_BASE_URL"]
    assert (
        f"{base.rstrip('/')}{KEYWORD_PATH}" == "https://dapi.kakao.com/v2/local/search/keyword.json"
    )
