"""The kind provider's steps, run against a fake kind and Docker (neither runs here).

What a fake cannot show: that kind creates the cluster, Docker builds the image and the pods
come up. Everything around those commands is real: the overlay rendered by kubectl, the ports
checked on 127.0.0.1, the gateway's readiness polled over HTTP, the logs written to disk.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from harness.app.client import RewriteUploads
from harness.cli import app
from harness.errors import HarnessError
from harness.providers.base import ProviderError, ProviderTimeout
from harness.providers.kind import (
    IN_CLUSTER_GATEWAY,
    IN_CLUSTER_S3,
    KIND_CONFIG,
    LOAD_MASTER_PORT,
    LOAD_WORKERS,
    ClusterTarget,
    KindCluster,
    KindOptions,
    ipv4_gateway,
    run_command,
)
from harness.run.runner import RunOptions
from loadtests.protocol import MASTER_ENV

Response = subprocess.CompletedProcess[str]
Handler = Callable[[list[str], str | None], Response]

CANNED_RENDER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: waste-service, namespace: waste}
---
apiVersion: batch/v1
kind: Job
metadata: {name: wastecoach-migrate, namespace: default}
"""


def ok(argv: Sequence[str], stdout: str = "") -> Response:
    return subprocess.CompletedProcess(list(argv), 0, stdout, "")


def fail(argv: Sequence[str], stderr: str) -> Response:
    return subprocess.CompletedProcess(list(argv), 1, "", stderr)


class FakeTools:
    """kind, docker and kubectl as a scripted runner: every call recorded, answers by prefix."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.stdin: dict[str, str | None] = {}
        self.handlers: list[tuple[tuple[str, ...], Handler]] = []
        self.clusters: list[str] = []
        self.on("kind", "version").reply("kind v0.24.0 go1.22.6 linux/amd64")
        self.on("docker", "version").reply("27.1.1")
        self.on("kind", "get", "clusters").call(lambda argv, _: ok(argv, "\n".join(self.clusters)))
        self.on("kubectl", "kustomize").call(self._render)

    def on(self, *prefix: str) -> _Rule:
        return _Rule(self, prefix)

    @staticmethod
    def _render(argv: list[str], stdin: str | None) -> Response:
        if shutil.which("kubectl"):
            return run_command(argv, stdin, 120)
        return ok(argv, CANNED_RENDER)

    def __call__(self, argv: Sequence[str], stdin: str | None, timeout: float) -> Response:
        argv = list(argv)
        self.calls.append(argv)
        self.stdin[" ".join(argv)] = stdin
        # Later rules win, so a test can override the defaults.
        for prefix, handler in reversed(self.handlers):
            if tuple(argv[: len(prefix)]) == prefix or _contains(argv, prefix):
                return handler(argv, stdin)
        return ok(argv)

    def commands(self) -> list[str]:
        return [" ".join(call) for call in self.calls]


def _contains(argv: list[str], prefix: tuple[str, ...]) -> bool:
    """``kubectl --context X rollout status ...`` matches the prefix ``kubectl rollout``."""
    return argv[:1] == ["kubectl"] and prefix[:1] == ("kubectl",) and _sub(argv[3:], prefix[1:])


def _sub(args: list[str], prefix: tuple[str, ...]) -> bool:
    return bool(prefix) and tuple(args[: len(prefix)]) == prefix


class _Rule:
    def __init__(self, tools: FakeTools, prefix: tuple[str, ...]) -> None:
        self.tools, self.prefix = tools, prefix

    def call(self, handler: Handler) -> None:
        self.tools.handlers.append((self.prefix, handler))

    def reply(self, stdout: str) -> None:
        self.call(lambda argv, _: ok(argv, stdout))

    def error(self, stderr: str) -> None:
        self.call(lambda argv, _: fail(argv, stderr))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gateway:
    """A stand-in for the gateway's /readyz on 127.0.0.1, answering the codes it is given."""

    def __init__(self, port: int, codes: Sequence[int] = (200,)) -> None:
        self.port = port
        self.codes = list(codes)
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        codes = self.codes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = codes.pop(0) if len(codes) > 1 else codes[0]
                self.send_response(code if self.path == "/readyz" else 404)
                self.end_headers()
                self.wfile.write(b'{"status": "ready"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(free_port())
    yield server
    server.stop()


def kind_config(tmp_path: Path, gateway_port: int, s3_port: int | None = None) -> Path:
    """The project's kind configuration with its host ports moved to free ones."""
    document = yaml.safe_load(KIND_CONFIG.read_text())
    moved = {30080: gateway_port, 30500: s3_port or free_port()}
    for node in document["nodes"]:
        for mapping in node.get("extraPortMappings", []):
            mapping["hostPort"] = moved.get(mapping["containerPort"], free_port())
    path = tmp_path / "kind-config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def options(tmp_path: Path, gateway_port: int, **changes: object) -> KindOptions:
    values: dict[str, object] = {
        "config": kind_config(tmp_path, gateway_port),
        "logs_dir": tmp_path / "logs",
        "gateway_timeout": 10.0,
    }
    return KindOptions(**(values | changes))  # type: ignore[arg-type]


def present(tool: str) -> str:
    return f"/usr/bin/{tool}"


def creates_cluster(tools: FakeTools, then: Callable[[], None] = lambda: None) -> Handler:
    """``kind create cluster`` that registers the cluster, then runs ``then``."""

    def create(argv: list[str], _: str | None) -> Response:
        tools.clusters.append("wastecoach")
        then()
        return ok(argv)

    return create


# --- what is missing here ---------------------------------------------------------------------


def test_every_missing_tool_is_named_in_one_message(tmp_path: Path) -> None:
    tools = FakeTools()
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=lambda _: None)
    with pytest.raises(ProviderError) as caught:
        cluster.start()
    message = str(caught.value)
    for tool in ("kind", "docker", "kubectl"):
        assert f"{tool} is not installed" in message
    assert tools.calls == []


def test_a_docker_engine_that_does_not_answer_says_to_start_it(tmp_path: Path) -> None:
    tools = FakeTools()
    tools.on("docker", "version").error("Cannot connect to the Docker daemon at unix:///x.sock")
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=present)
    with pytest.raises(ProviderError, match=r"no Docker engine answers .*start Docker"):
        cluster.start()
    assert not any(call[:2] == ["kind", "create"] for call in tools.calls)


def test_an_old_kind_is_refused(tmp_path: Path) -> None:
    tools = FakeTools()
    tools.on("kind", "version").reply("kind v0.20.0 go1.20.4 linux/amd64")
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=present)
    with pytest.raises(ProviderError, match=r"kind 0\.20\.0 is too old: 0\.24 or newer"):
        cluster.check_available()


def test_an_occupied_host_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cluster = KindCluster(options(tmp_path, port), runner=FakeTools(), which=present)
        with pytest.raises(ProviderError, match=rf"port {port} on 127\.0\.0\.1 is taken"):
            cluster.check_available()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlay")
def test_an_overlay_that_does_not_render_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "overlay"
    broken.mkdir()
    (broken / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    cluster = KindCluster(
        options(tmp_path, free_port(), overlay=broken), runner=FakeTools(), which=present
    )
    with pytest.raises(ProviderError, match=r"does not render .*kubectl kustomize"):
        cluster.check_available()


# --- the path through a cluster ---------------------------------------------------------------


def test_start_walks_every_step_and_stop_deletes_the_cluster(
    tmp_path: Path, gateway: Gateway
) -> None:
    tools = FakeTools()
    # kind maps the gateway's NodePort to the host once the nodes run.
    tools.on("kind", "create").call(creates_cluster(tools, gateway.start))
    cluster = KindCluster(options(tmp_path, gateway.port), runner=tools, which=present)
    with cluster:
        assert cluster.target().base_url == gateway.url
        commands = tools.commands()
    run = [c for c in commands if not c.startswith(("kind version", "docker version"))]
    steps = [
        "kubectl kustomize",
        "kind get clusters",
        "kind create cluster --name wastecoach --config",
        "docker build -f",
        "kind load docker-image wastecoach/reference:kind --name wastecoach",
        "kubectl --context kind-wastecoach delete job -n default wastecoach-migrate",
        "kubectl --context kind-wastecoach apply -f -",
        "kubectl --context kind-wastecoach wait -n default job/wastecoach-migrate",
    ]
    position = 0
    for step in steps:
        found = next(i for i, c in enumerate(run) if c.startswith(step) and i >= position)
        position = found
    assert "--build-arg EXTRAS=mocks" in next(c for c in run if c.startswith("docker build"))
    applied = tools.stdin["kubectl --context kind-wastecoach apply -f -"]
    workloads = [
        doc
        for doc in yaml.safe_load_all(applied or "")
        if doc and doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    ]
    rollouts = [c for c in run if " rollout status " in c]
    assert workloads and len(rollouts) == len(workloads)
    assert tools.commands()[-1] == "kind delete cluster --name wastecoach"


def test_a_failed_rollout_leaves_logs_and_no_cluster(tmp_path: Path, gateway: Gateway) -> None:
    tools = FakeTools()
    tools.on("kind", "create").call(creates_cluster(tools))
    tools.on("kubectl", "rollout", "status").error("deployment waste-service exceeded its deadline")
    pods = {
        "items": [
            {
                "metadata": {"namespace": "waste", "name": "waste-service-abc"},
                "spec": {"containers": [{"name": "waste-service"}]},
                "status": {"containerStatuses": [{"name": "waste-service", "restartCount": 2}]},
            }
        ]
    }
    tools.on("kubectl", "get", "pods", "-A", "-o", "json").reply(json.dumps(pods))
    tools.on("kubectl", "logs").call(lambda argv, _: ok(argv, "Traceback: boom\n"))
    cluster = KindCluster(options(tmp_path, gateway.port), runner=tools, which=present)
    with pytest.raises(ProviderError) as caught:
        cluster.start()
    assert "rollout status" in caught.value.message
    assert "exceeded its deadline" in caught.value.details
    (logs,) = (tmp_path / "logs").iterdir()
    assert str(logs) in caught.value.message
    assert (logs / "pods.txt").exists() and (logs / "events.txt").exists()
    container = logs / "waste" / "waste-service-abc"
    assert (container / "waste-service.log").read_text() == "Traceback: boom\n"
    assert (container / "waste-service.previous.log").exists()
    assert tools.commands()[-1] == "kind delete cluster --name wastecoach"


def test_an_existing_cluster_is_reused_and_left_running(tmp_path: Path, gateway: Gateway) -> None:
    gateway.start()  # the running cluster already holds its ports
    tools = FakeTools()
    tools.clusters.append("wastecoach")
    with KindCluster(options(tmp_path, gateway.port, build=False), runner=tools, which=present):
        pass
    commands = tools.commands()
    assert not any(c.startswith(("kind create", "kind delete", "docker build")) for c in commands)
    assert any(c.startswith("kind load docker-image") for c in commands)


def test_an_existing_cluster_is_refused_without_reuse(tmp_path: Path) -> None:
    tools = FakeTools()
    tools.clusters.append("wastecoach")
    cluster = KindCluster(options(tmp_path, free_port(), reuse=False), runner=tools, which=present)
    with pytest.raises(ProviderError, match="kind delete cluster --name wastecoach"):
        cluster.start()
    assert not any(c.startswith("kind delete") for c in tools.commands())


# --- what a scenario talks to -----------------------------------------------------------------


def test_uploads_to_the_in_cluster_s3_go_to_its_node_port() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    transport = RewriteUploads({IN_CLUSTER_S3: "127.0.0.1:30500"}, httpx.MockTransport(record))
    with httpx.Client(transport=transport) as client:
        client.put(
            f"http://{IN_CLUSTER_S3}/wastecoach-images/u/1.jpg?X-Amz-Signature=ab", content=b"x"
        )
        client.get("http://127.0.0.1:30080/healthz")
    moved, untouched = seen
    assert (moved.url.host, moved.url.port) == ("127.0.0.1", 30500)
    assert moved.url.path == "/wastecoach-images/u/1.jpg"
    assert moved.url.query == b"X-Amz-Signature=ab"
    assert moved.headers["Host"] == IN_CLUSTER_S3  # what a pre-signed URL's signature covers
    assert str(untouched.url) == "http://127.0.0.1:30080/healthz"


def test_an_existing_cluster_target_waits_until_ready() -> None:
    server = Gateway(free_port(), codes=[503, 503, 200])
    server.start()
    try:
        target = ClusterTarget.existing(server.url + "/")
        assert target.wait_ready(timeout=10).base_url == server.url
        assert target.upload_rewrites == {}
    finally:
        server.stop()


def test_a_target_that_never_gets_ready_times_out_with_the_reason() -> None:
    server = Gateway(free_port(), codes=[503])
    server.start()
    try:
        with pytest.raises(ProviderTimeout, match="/readyz answered 503"):
            ClusterTarget.existing(server.url).wait_ready(timeout=1)
    finally:
        server.stop()


# --- Locust workers inside the cluster ------------------------------------------------------------

KIND_IPAM = (
    '[{"Subnet":"fc00:f853:ccd:e793::/64","Gateway":"fc00:f853:ccd:e793::1"},'
    '{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]'
)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (json.loads(KIND_IPAM), "172.18.0.1"),
        ([{"Subnet": "172.19.0.0/16"}], "172.19.0.1"),  # Docker gives the subnet's first host
        ([{"Subnet": "fc00::/64", "Gateway": "fc00::1"}], None),
        ([], None),
    ],
)
def test_the_kind_networks_ipv4_gateway(config: list[dict[str, str]], expected: str | None) -> None:
    assert ipv4_gateway(config) == expected


def test_the_host_address_is_the_kind_networks_gateway(tmp_path: Path) -> None:
    tools = FakeTools()
    tools.on("docker", "network", "inspect", "kind").reply(KIND_IPAM + "\n")
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=present)
    assert cluster.host_address() == "172.18.0.1"
    tools.on("docker", "network", "inspect", "kind").reply("[]\n")
    with pytest.raises(ProviderError, match=r"names no IPv4 gateway .*--master-host"):
        cluster.host_address()


def _patches(tools: FakeTools) -> list[dict[str, object]]:
    return [
        json.loads(call[call.index("-p") + 1])
        for call in tools.calls
        if call[3:6] == ["patch", "deployment", LOAD_WORKERS[1]]
        and call[call.index("-n") + 1] == LOAD_WORKERS[0]
    ]


def test_load_workers_are_scaled_up_with_their_master_and_down_after(tmp_path: Path) -> None:
    tools = FakeTools()
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=present)
    with cluster.load_workers(3, master="172.18.0.1:5557"):
        (up,) = _patches(tools)
    assert up == {
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "worker",
                            "env": [{"name": MASTER_ENV, "value": "172.18.0.1:5557"}],
                        }
                    ]
                }
            },
        }
    }
    assert _patches(tools)[1:] == [{"spec": {"replicas": 0}}]


def test_a_failed_scale_down_does_not_hide_the_runs_failure(tmp_path: Path) -> None:
    tools = FakeTools()

    def refuse_scaling_down(argv: list[str], _: str | None) -> Response:
        if json.loads(argv[argv.index("-p") + 1])["spec"]["replicas"] == 0:
            return fail(argv, "the connection to the server was refused")
        return ok(argv)

    tools.on("kubectl", "patch").call(refuse_scaling_down)
    cluster = KindCluster(options(tmp_path, free_port()), runner=tools, which=present)
    with (
        pytest.raises(RuntimeError, match="the run failed"),
        cluster.load_workers(2, master="10.0.0.1:5557"),
    ):
        raise RuntimeError("the run failed")
    # Without a failure of its own, the block fails with the scale-down's.
    with (
        pytest.raises(ProviderError, match="patch deployment locust-worker"),
        cluster.load_workers(2, master="10.0.0.1:5557"),
    ):
        pass


def test_kind_load_workers_run_the_load_from_the_cluster(
    tmp_path: Path, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``wastecoach kind --load-workers 2``: the workers are scaled up before the run and down
    after it, and the run's master listens where they dial, sends them the in-cluster gateway
    (their uploads go to moto's in-cluster address: no rewrite) and waits for both."""
    import harness.providers.kind as kind_module
    import harness.run.runner

    gateway.start()
    tools = FakeTools()
    tools.clusters.append("wastecoach")  # a running cluster, reused and left running
    tools.on("docker", "network", "inspect", "kind").reply(KIND_IPAM)
    tools.on("kubectl", "get", "pods", "-A", "-o", "json").reply('{"items": []}')
    config = options(tmp_path, gateway.port).config

    class Cluster(KindCluster):
        def __init__(self, kind_options: KindOptions) -> None:
            kind_options.config, kind_options.logs_dir = config, tmp_path / "logs"
            super().__init__(kind_options, runner=tools, which=present)

    seen: list[tuple[RunOptions, list[dict[str, object]]]] = []

    def run(run_options: RunOptions, progress: Callable[[str], None]) -> None:
        seen.append((run_options, _patches(tools)))
        raise HarnessError("the load generator exited with code 2 (stand-in)")

    monkeypatch.setattr(kind_module, "KindCluster", Cluster)
    monkeypatch.setattr(harness.run.runner, "run", run)
    result = CliRunner().invoke(
        app,
        ["kind", "smoke", "--no-build", "--load-workers", "2", "--reports", str(tmp_path)],
    )
    assert result.exit_code == 2, result.output
    assert "stand-in" in result.output
    ((given, patched),) = seen
    master = f"172.18.0.1:{LOAD_MASTER_PORT}"
    assert patched == [
        {
            "spec": {
                "replicas": 2,
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "worker", "env": [{"name": MASTER_ENV, "value": master}]}
                        ]
                    }
                },
            }
        }
    ]
    assert (given.processes, given.expect_workers, given.master_bind) == (0, 2, master)
    assert (given.target, given.load_target) == (gateway.url, IN_CLUSTER_GATEWAY)
    assert given.upload_rewrites == ()
    assert _patches(tools)[-1] == {"spec": {"replicas": 0}}


def test_kind_master_host_without_load_workers_is_refused() -> None:
    result = CliRunner().invoke(app, ["kind", "smoke", "--master-host", "172.18.0.1"])
    assert result.exit_code == 2
    assert "--master-host goes with --load-workers N" in result.output
