"""The reference on a kind cluster whose four nodes mimic the seed's tiers (``cluster/``).

:class:`KindCluster` walks the path a release takes before promotion to EC2: create the cluster
(``cluster/kind/kind-config.yaml``), build the image with the fakes and load it into the nodes,
apply ``cluster/overlays/kind``, wait for the migrations and every rollout, reach the gateway on
127.0.0.1, collect every pod's logs, delete the cluster. :class:`ClusterTarget` is what a scenario
talks to: the kind cluster's gateway, or the URL of a cluster that already runs (the run before
promotion)::

    with KindCluster() as cluster:
        flows = smoke(cluster.target(), photos=3)

:meth:`KindCluster.load_workers` scales the overlay's in-cluster Locust workers for a run whose
master listens on this machine's address on the kind network (:meth:`KindCluster.host_address`).

Every command goes through a runner (``subprocess.run`` by default) so that the steps can be
checked without kind; nothing here contacts anything but the local Docker engine, the cluster's
API server and 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import yaml

from harness.app.client import FlowResult, WasteClient
from harness.providers.base import ProviderError
from harness.providers.readiness import tail_text, wait_ready
from loadtests import protocol

ROOT = Path(__file__).resolve().parents[2]
KIND_CONFIG = ROOT / "cluster" / "kind" / "kind-config.yaml"
OVERLAY = ROOT / "cluster" / "overlays" / "kind"
DOCKERFILE = ROOT / "cluster" / "Dockerfile"
IMAGE = "wastecoach/reference:kind"
# kindnet enforces NetworkPolicy from 0.24 on, and the pinned node image was built for it.
MIN_KIND_VERSION = (0, 24)
GATEWAY_NODE_PORT = 30080
S3_NODE_PORT = 30500
PROMETHEUS_NODE_PORT = 30090
# The host pre-signed upload URLs name (cluster/overlays/kind/settings.env); only pods resolve it.
IN_CLUSTER_S3 = "s3.fakes.svc.cluster.local:5000"
MIGRATIONS = ("default", "wastecoach-migrate")
ROLLED_OUT = ("Deployment", "StatefulSet", "DaemonSet")
# The gateway as pods reach it (its Service in the kind overlay).
IN_CLUSTER_GATEWAY = "http://gateway.default.svc.cluster.local"
# The in-cluster Locust workers (cluster/overlays/kind/load): their Deployment and the master's
# port, the one their NetworkPolicy lets them reach (protocol.MASTER_ENV names the master).
LOAD_WORKERS = ("load", "locust-worker")
LOAD_MASTER_PORT = 5557
# The Docker network kind puts its nodes on; its gateway is this machine as the nodes see it.
KIND_NETWORK = "kind"

Runner = Callable[[Sequence[str], str | None, float], subprocess.CompletedProcess[str]]


def run_command(
    argv: Sequence[str], stdin: str | None = None, timeout: float = 600.0
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output (the default runner)."""
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def host_ports(config: Path) -> dict[int, int]:
    """NodePort -> 127.0.0.1 port, as the kind configuration maps them."""
    document = yaml.safe_load(config.read_text())
    return {
        mapping["containerPort"]: mapping["hostPort"]
        for node in document["nodes"]
        for mapping in node.get("extraPortMappings", [])
    }


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def ipv4_gateway(ipam_config: list[dict[str, str]]) -> str | None:
    """The IPv4 gateway of a Docker network's IPAM configuration (``docker network inspect``);
    Docker gives a network the first address of its subnet when none is named."""
    for entry in ipam_config:
        with suppress(ValueError):
            if "Gateway" in entry and ipaddress.ip_address(entry["Gateway"]).version == 4:
                return entry["Gateway"]
            subnet = ipaddress.ip_network(entry.get("Subnet", ""))
            if subnet.version == 4 and "Gateway" not in entry:
                return str(next(subnet.hosts()))
    return None


def _kind_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"v(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part) for part in match.groups() if part is not None) if match else None


@dataclass(frozen=True)
class ClusterTarget:
    """Where a scenario sends the app's requests, and how its uploads reach S3."""

    base_url: str
    upload_rewrites: Mapping[str, str] = field(default_factory=dict)
    # The cluster's Prometheus, where the run reads the server-side gauges (None: not known).
    prometheus_url: str | None = None

    @classmethod
    def existing(cls, base_url: str) -> ClusterTarget:
        """A cluster that already runs (EC2, a shared kind): real pre-signed URLs as they are."""
        return cls(base_url.rstrip("/"))

    def wait_ready(self, timeout: float = 120.0) -> Self:
        """Wait until ``/readyz`` answers 200 (every dependency of the API answers)."""

        def ready() -> None:
            answer = httpx.get(f"{self.base_url}/readyz", timeout=5.0)
            if answer.status_code != 200:
                raise RuntimeError(f"/readyz answered {answer.status_code}: {answer.text[:200]}")

        wait_ready([ready], timeout=timeout, what=f"the API at {self.base_url}")
        return self

    def client(self) -> WasteClient:
        """The app's client for this target; the caller closes it."""
        return WasteClient(self.base_url, upload_rewrites=self.upload_rewrites)


def smoke(target: ClusterTarget, photos: int = 3) -> list[FlowResult]:
    """The image-analysis flow end to end for ``photos`` catalog photos; raises on a failure."""
    from harness.mocks import catalog

    flows = []
    with target.client() as client:
        for index in range(photos):
            item = catalog.ITEMS[index % len(catalog.ITEMS)]
            flow = client.analyze_photo(catalog.render(item, seed=index), follow="poll")
            if flow.status != "done":
                raise ProviderError(f"job {index} on {target.base_url} ended {flow.status}")
            flows.append(flow)
    return flows


@dataclass
class KindOptions:
    name: str = "wastecoach"
    config: Path = KIND_CONFIG
    overlay: Path = OVERLAY
    image: str = IMAGE
    build: bool = True  # False: the image is already built (CI builds it once)
    reuse: bool = True  # a cluster of that name is used as it is, and left running at stop()
    keep: bool = False  # leave a cluster this object created running after stop()
    logs_dir: Path = ROOT / "reports" / "kind"
    create_timeout: float = 600.0
    build_timeout: float = 1800.0
    rollout_timeout: float = 900.0
    gateway_timeout: float = 180.0


class KindCluster:
    """The reference on a four-tier kind cluster, from ``kind create`` to ``kind delete``."""

    def __init__(
        self,
        options: KindOptions | None = None,
        *,
        runner: Runner = run_command,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.options = options or KindOptions()
        self.runner = runner
        self.which = which
        self.created = False
        self.started = False
        self.rendered = ""

    @property
    def context(self) -> str:
        return f"kind-{self.options.name}"

    # -- commands ------------------------------------------------------------------------------
    def _run(self, argv: Sequence[str], *, stdin: str | None = None, timeout: float = 120.0) -> str:
        try:
            done = self.runner(argv, stdin, timeout)
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(f"`{' '.join(argv)}` did not finish within {timeout:g} s") from exc
        if done.returncode != 0:
            raise ProviderError(
                f"`{' '.join(argv)}` failed (exit {done.returncode})",
                details=tail_text((done.stderr or done.stdout or "").strip()),
            )
        return done.stdout

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120.0) -> str:
        return self._run(
            ["kubectl", "--context", self.context, *args], stdin=stdin, timeout=timeout
        )

    def cluster_exists(self) -> bool:
        return self.options.name in self._run(["kind", "get", "clusters"]).split()

    # -- checks --------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Raise one :class:`ProviderError` naming everything missing here, and what to do."""
        problems = [
            f"{tool} is not installed ({hint})"
            for tool, hint in (
                ("kind", "install kind 0.24 or newer"),
                ("docker", "install Docker: kind runs its nodes as containers"),
                ("kubectl", "install kubectl 1.28 or newer"),
            )
            if self.which(tool) is None
        ]
        if not problems:
            problems += self._engine_and_version_problems()
        if not problems and not self.cluster_exists():
            taken = [port for port in host_ports(self.options.config).values() if _port_taken(port)]
            problems += [
                f"port {port} on 127.0.0.1 is taken (another server or kind cluster); free it"
                for port in taken
            ]
        if self.which("kubectl") is not None:
            try:
                self.rendered = self._run(["kubectl", "kustomize", str(self.options.overlay)])
            except ProviderError as exc:
                first = exc.details.splitlines()[0] if exc.details else exc.message
                problems.append(
                    f"{self.options.overlay} does not render ({first}); "
                    f"run `kubectl kustomize {self.options.overlay}` to see why"
                )
        if problems:
            raise ProviderError("the kind cluster cannot start here: " + "; ".join(problems))

    def _engine_and_version_problems(self) -> list[str]:
        problems = []
        try:
            self._run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=20)
        except ProviderError as exc:
            problems.append(f"no Docker engine answers ({exc.details or exc}); start Docker")
        version = _kind_version(self._run(["kind", "version"]))
        if version is None or version[:2] < MIN_KIND_VERSION:
            wanted = ".".join(map(str, MIN_KIND_VERSION))
            problems.append(
                f"kind {'.'.join(map(str, version or ())) or '(unknown)'} is too old: {wanted} or "
                "newer enforces NetworkPolicy and runs the pinned node image"
            )
        return problems

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        if self.started:
            return self
        self.check_available()
        try:
            self._create()
            self._deploy()
            self.target().wait_ready(self.options.gateway_timeout)
        except BaseException as exc:
            logs = None
            with suppress(Exception):
                if self.created or self.cluster_exists():
                    logs = self.collect_logs()
            with suppress(Exception):
                self.stop()
            if isinstance(exc, ProviderError) and logs is not None:
                message = f"{exc.message}; pod logs and events in {logs}"
                raise type(exc)(message, details=exc.details) from exc
            raise
        self.started = True
        return self

    def _create(self) -> None:
        if self.cluster_exists():
            if not self.options.reuse:
                raise ProviderError(
                    f"a kind cluster named {self.options.name} exists; delete it "
                    f"(kind delete cluster --name {self.options.name}) or allow reuse"
                )
            return
        self.created = True
        self._run(
            ["kind", "create", "cluster", "--name", self.options.name,
             "--config", str(self.options.config), "--wait", "5m"],
            timeout=self.options.create_timeout,
        )  # fmt: skip

    def _deploy(self) -> None:
        if self.options.build:
            self._run(
                ["docker", "build", "-f", str(DOCKERFILE), "--build-arg", "EXTRAS=mocks",
                 "-t", self.options.image, str(ROOT)],
                timeout=self.options.build_timeout,
            )  # fmt: skip
        self._run(
            ["kind", "load", "docker-image", self.options.image, "--name", self.options.name],
            timeout=self.options.build_timeout,
        )
        namespace, job = MIGRATIONS
        # A Job's template cannot change: the previous run's goes before this one is applied.
        self.kubectl("delete", "job", "-n", namespace, job, "--ignore-not-found", "--wait=true")
        self.kubectl("apply", "-f", "-", stdin=self.rendered, timeout=300)
        timeout = f"--timeout={int(self.options.rollout_timeout)}s"
        self.kubectl(
            "wait", "-n", namespace, f"job/{job}", "--for=condition=complete", timeout,
            timeout=self.options.rollout_timeout + 30,
        )  # fmt: skip
        for obj in yaml.safe_load_all(self.rendered):
            if obj and obj["kind"] in ROLLED_OUT:
                meta = obj["metadata"]
                self.kubectl(
                    "rollout", "status", "-n", meta["namespace"],
                    f"{obj['kind'].lower()}/{meta['name']}", timeout,
                    timeout=self.options.rollout_timeout + 30,
                )  # fmt: skip

    def stop(self) -> None:
        """Delete the cluster if this object created it (and ``keep`` is off)."""
        try:
            if self.created and not self.options.keep:
                self._run(["kind", "delete", "cluster", "--name", self.options.name], timeout=300)
                self.created = False
        finally:
            self.started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what a run uses -----------------------------------------------------------------------
    def target(self) -> ClusterTarget:
        ports = host_ports(self.options.config)
        return ClusterTarget(
            f"http://127.0.0.1:{ports[GATEWAY_NODE_PORT]}",
            {IN_CLUSTER_S3: f"127.0.0.1:{ports[S3_NODE_PORT]}"},
            f"http://127.0.0.1:{ports[PROMETHEUS_NODE_PORT]}",
        )

    def host_address(self) -> str:
        """This machine's address on the kind network (its gateway): where pods reach a server
        of the host, such as a run's Locust master."""
        inspected = self._run(
            ["docker", "network", "inspect", KIND_NETWORK, "--format", "{{json .IPAM.Config}}"],
            timeout=20,
        )
        try:
            address = ipv4_gateway(json.loads(inspected) or [])
        except ValueError:
            address = None
        if address is None:
            raise ProviderError(
                f"docker network {KIND_NETWORK} names no IPv4 gateway ({inspected.strip()!r}); "
                "pass the address the kind nodes reach this machine at (--master-host)"
            )
        return address

    def scale_load_workers(self, count: int, master: str | None = None) -> None:
        """The in-cluster Locust workers to ``count``; ``master`` (HOST:PORT) is where new ones
        connect."""
        namespace, name = LOAD_WORKERS
        spec: dict[str, object] = {"replicas": count}
        if master is not None:
            env = [{"name": protocol.MASTER_ENV, "value": master}]
            spec["template"] = {"spec": {"containers": [{"name": "worker", "env": env}]}}
        self.kubectl(
            "patch", "deployment", name, "-n", namespace, "--type=strategic",
            "-p", json.dumps({"spec": spec}),
        )  # fmt: skip

    @contextmanager
    def load_workers(self, count: int, *, master: str) -> Iterator[None]:
        """``count`` Locust workers in the cluster connecting to the master at ``master`` for
        the block, none after it (a failure to scale them down does not hide the block's)."""
        self.scale_load_workers(count, master)
        try:
            yield
        except BaseException:
            with suppress(ProviderError):
                self.scale_load_workers(0)
            raise
        self.scale_load_workers(0)

    def collect_logs(self, dest: Path | None = None) -> Path:
        """Every container's log (and the previous one after a restart), pods and events."""
        dest = dest or self.options.logs_dir / time.strftime("%Y%m%d-%H%M%S")
        dest.mkdir(parents=True, exist_ok=True)

        def save(path: Path, *args: str) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.write_text(self.kubectl(*args, timeout=60))
            except ProviderError as exc:
                path.write_text(f"{exc}\n")

        save(dest / "pods.txt", "get", "pods", "-A", "-o", "wide")
        save(dest / "events.txt", "get", "events", "-A", "--sort-by=.lastTimestamp")
        pods = json.loads(self.kubectl("get", "pods", "-A", "-o", "json", timeout=60))
        for pod in pods.get("items", []):
            meta = pod["metadata"]
            statuses = {
                status["name"]: status.get("restartCount", 0)
                for status in pod.get("status", {}).get("containerStatuses", [])
            }
            for container in pod["spec"]["containers"]:
                name = container["name"]
                base = dest / meta["namespace"] / meta["name"] / name
                args = ("logs", "-n", meta["namespace"], meta["name"], "-c", name, "--timestamps")
                save(base.with_suffix(".log"), *args)
                if statuses.get(name, 0) > 0:
                    save(base.with_suffix(".previous.log"), *args, "--previous")
        return dest
