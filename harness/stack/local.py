"""A local reference stack: the fakes, migrations, the gateway and the workers, as child
processes against PostgreSQL, Redis and RabbitMQ servers (each run in its own sandbox).

``LocalStack`` is what ``wastecoach up``, the demo, the benchmark and the end-to-end tests use.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from kombu import Connection

from harness.errors import CleanupError, HarnessError
from harness.providers.probes import libpq_url
from harness.stack.processes import ManagedProcess, listening_socket, port_of, reserved_port
from harness.stack.proxy import TcpProxy
from harness.stack.sandbox import Sandbox, ServerUrls
from harness.stack.waits import WaitAborted, WaitTimeout, wait_for
from reference import migrations
from reference.common import bucket, tiers, topology
from reference.common.settings import Settings

T = TypeVar("T")

# Collection points loaded for /locations by default, as many as the seed's sample city.
SEED_LOCATION_POINTS = 3000
# Tables a reset keeps: the migrations' record and the collection points the stack loaded.
KEPT_TABLES = ("alembic_version", "collection_points")
# The fakes a reset reconfigures and restarts (their admin routes, harness.mocks.admin).
FAKES = ("openai", "kakao", "oauth")


def gateway_key(replica: int = 1) -> str:
    """A gateway process's name: ``gateway``, ``gateway-2``, ..."""
    return "gateway" if replica == 1 else f"gateway-{replica}"


def worker_node(name: str, replica: int) -> str:
    """A worker replica's Celery node name before ``@host``: ``ai-1``, ``ai-2``, ..."""
    return f"{name}-{replica}"


def worker_key(name: str, replica: int = 1) -> str:
    """A worker replica's process name: ``worker-ai``, ``worker-ai-2``, ..."""
    return f"worker-{name}" if replica == 1 else f"worker-{name}-{replica}"


class StackError(HarnessError):
    """The stack could not start; ``detail`` carries the logs that explain why."""


@dataclass
class StackOptions:
    servers: ServerUrls = field(default_factory=ServerUrls)
    run_dir: Path = Path("reports/stack")
    workers: tuple[str, ...] = ("ai",)
    # Processes per worker (default 1); the seed's replicas are in topology.WORKERS.
    worker_replicas: dict[str, int] = field(default_factory=dict)
    # Arguments for the mock OpenAI server (latency, error rates); see harness.mocks.openai_server.
    openai_args: tuple[str, ...] = ()
    # Arguments for the Kakao Map fake (harness.mocks.kakao_server) and the OAuth fake.
    kakao_args: tuple[str, ...] = ()
    oauth_args: tuple[str, ...] = ("--latency", "0.05")
    # Settings of every service and worker, on top of the sandbox's.
    settings_overrides: dict[str, object] = field(default_factory=dict)
    # Extra celery arguments per worker name, after the topology's (the last --queues wins).
    worker_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Collection points loaded for /locations (0: none).
    location_points: int = 0
    # Celery beat (the q.sched schedule) as a process of its own.
    beat: bool = False
    # Servers ("postgres", "redis", "rabbitmq") the services and workers reach through a TCP
    # proxy (harness.stack.proxy), for latency and reset faults; the harness itself goes direct.
    proxied: tuple[str, ...] = ()
    gateway_port: int | None = None
    # Processes serving the gateway's port (the seed's replicas: tiers.gateway_processes).
    gateway_processes: int = field(default_factory=tiers.gateway_processes)
    start_timeout: float = 60.0


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.sandbox = Sandbox(self.options.servers)
        self.processes: dict[str, ManagedProcess] = {}
        self.settings: Settings | None = None
        self.base_url = ""
        self.s3_url = ""
        self.openai_url = ""
        self.kakao_url = ""
        self.oauth_url = ""
        self.startup_seconds: dict[str, float] = {}
        self.metrics_urls: dict[str, str] = {}
        self.proxies: dict[str, TcpProxy] = {}
        # Each HTTP process's readiness URL (it answers 200 once it serves).
        self.ready_urls: dict[str, str] = {}
        # Where the processes that bind their metrics listener on port 0 write the port they got
        # (until it is read into metrics_urls).
        self._port_files: dict[str, Path] = {}
        self._child_settings: Settings | None = None
        # The gateway's port, held (its processes bind it with SO_REUSEPORT), and the fakes'
        # sockets until their processes have them: closed by stop().
        self._held_sockets: list[socket.socket] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException as exc:
            logs = self.logs_digest()
            with contextlib.suppress(Exception):  # the start-up error is the one to report
                self.stop()
            if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: nothing to explain
                raise
            raise self._start_failure(exc, logs) from exc
        return self

    def _start_failure(self, exc: Exception, logs: str) -> StackError:
        """One line naming what failed; the processes' log tails go to ``detail``."""
        known = isinstance(exc, HarnessError)
        message = exc.message if known else f"{type(exc).__name__}: {exc}"
        detail = exc.detail if known else str(exc)
        return StackError(
            f"stack failed to start: {message}",
            detail="\n".join(part for part in (detail, logs) if part),
            logs=self.log_dir if self.processes else None,
        )

    @property
    def log_dir(self) -> Path:
        return self.options.run_dir / "logs"

    def unexpected_deaths(self) -> list[str]:
        """Every process that exited without the harness stopping it (see
        :meth:`ManagedProcess.expect_exit` for faults that crash one on purpose)."""
        return [d for p in self.processes.values() if (d := p.unexpected_death())]

    def _timed(self, name: str, started: float) -> None:
        self.startup_seconds[name] = round(time.perf_counter() - started, 3)

    def _start(self) -> None:
        t = time.perf_counter()
        self.sandbox.open()
        self._timed("sandbox", t)
        log_dir = self.options.run_dir / "logs"
        # Each fake serves on a socket bound here and handed down (``--fd``), and the gateway's
        # port is held here until the stack stops: no port is free for another process to
        # take between its choice and the child's bind, however long the child imports.
        sockets = {name: listening_socket() for name in ("s3", *FAKES)}
        self._held_sockets += sockets.values()  # closed by stop() if start fails first
        if self.options.gateway_port:
            port = self.options.gateway_port
        else:
            reservation = reserved_port()
            self._held_sockets.append(reservation)
            port = port_of(reservation)
        self.base_url = f"http://127.0.0.1:{port}"
        self.s3_url = f"http://127.0.0.1:{port_of(sockets['s3'])}"
        self.openai_url = f"http://127.0.0.1:{port_of(sockets['openai'])}/v1"
        self.kakao_url = f"http://127.0.0.1:{port_of(sockets['kakao'])}"
        self.oauth_url = f"http://127.0.0.1:{port_of(sockets['oauth'])}"
        self.ready_urls.update(
            {
                "s3": f"{self.s3_url}/",
                **{name: f"{self.fake_url(name)}/healthz" for name in FAKES},
            }
        )
        self.settings = self.sandbox.settings(
            **{
                "s3_endpoint_url": self.s3_url,
                "openai_base_url": self.openai_url,
                "kakao_base_url": self.kakao_url,
                "oauth_kakao_base_url": f"{self.oauth_url}/kakao",
                "oauth_naver_base_url": f"{self.oauth_url}/naver",
                "oauth_google_base_url": f"{self.oauth_url}/google",
                # The providers send the browser back to the port the gateway really serves.
                "oauth_redirect_base_url": self.base_url,
                **self.options.settings_overrides,
            }
        )
        self._child_settings = self._through_proxies(self.settings)
        env = self._child_settings.to_env()
        t = time.perf_counter()
        fakes = {
            "s3": ("harness.mocks.s3_server", ["--bucket", self.settings.s3_bucket]),
            "openai": ("harness.mocks.openai_server", list(self.options.openai_args)),
            "kakao": (
                "harness.mocks.kakao_server",
                ["--log-level", "warning", *self.options.kakao_args],
            ),
            "oauth": (
                "harness.mocks.oauth_server",
                ["--log-level", "warning", *self.options.oauth_args],
            ),
        }
        for name, (module, args) in fakes.items():
            fake = ManagedProcess.python_module(
                name, module, args, env, log_dir, pass_socket=sockets[name]
            )
            self._spawn(fake)
        fakes_spawned = t

        # The database and broker are prepared while the fakes start up.
        t = time.perf_counter()
        migrations.upgrade(self.settings.database_url)
        with Connection(self.settings.broker_url, connect_timeout=5) as conn:
            topology.declare(conn)
        if self.options.location_points:
            from reference.locations.seed import seed_database

            seed_database(self.settings.database_url, self.options.location_points)
        self._timed("migrations_topology_seed", t)

        # The services and workers start (their imports take seconds) while S3 gets its
        # bucket: they use it only for requests, once they are all ready.
        t = time.perf_counter()
        for replica in range(1, self.options.gateway_processes + 1):
            self._spawn_gateway(port, replica, env)
        for name in self.options.workers:
            for replica in range(1, self.options.worker_replicas.get(name, 1) + 1):
                self._spawn_worker(name, replica)
        if self.options.beat:
            schedule = self.options.run_dir / "celerybeat-schedule"
            beat_args = ["beat", f"--schedule={schedule}"]
            self._spawn(
                ManagedProcess.python_module("beat", "reference.workers", beat_args, env, log_dir)
            )
        self._wait_ready("s3")
        self._timed("s3", fakes_spawned)
        for name in FAKES:
            self._wait_ready(name)
        self._timed("fakes", fakes_spawned)
        for key in self.gateway_keys():
            self._wait_ready(key)
        self._wait_http("gateway", f"{self.base_url}/readyz")
        for name in self.options.workers:
            self.wait_for_consumers(name)
        for key in list(self._port_files):  # the workers' (they write it before consuming)
            self._read_metrics_port(key)
        self._timed("services_and_workers", t)

    def _through_proxies(self, settings: Settings) -> Settings:
        """The settings the children get: each proxied server's URL points at its proxy."""
        fields = {"postgres": "database_url", "redis": "redis_url", "rabbitmq": "broker_url"}
        changed: dict[str, str] = {}
        for server in self.options.proxied:
            url = urlsplit(getattr(settings, fields[server]))
            proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 0, name=server).start()
            self.proxies[server] = proxy
            netloc = url.netloc.rsplit(":", 1)[0] + f":{proxy.port}"
            changed[fields[server]] = urlunsplit(url._replace(netloc=netloc))
        return settings.model_copy(update=changed)

    def _spawn(self, process: ManagedProcess) -> ManagedProcess:
        """Start ``process`` as one of the stack's."""
        self.processes[process.name] = process.start()
        return process

    def fake_url(self, name: str) -> str:
        """A fake's base URL (its admin routes: ``/_mock/config``, ``/_mock/reset``)."""
        return {
            "openai": self.openai_url.removesuffix("/v1"),
            "kakao": self.kakao_url,
            "oauth": self.oauth_url,
        }[name]

    def _wait_ready(self, key: str) -> None:
        """Wait until the process ``key`` serves (S3: and has the bucket; a worker: consumes)."""
        assert self.settings is not None
        if key in self._port_files:
            self._read_metrics_port(key)
        if key.startswith("worker-"):
            self.wait_for_consumers(key.split("-")[1])
        elif key in self.ready_urls:
            self._wait_http(key, self.ready_urls[key])
        if key == "s3":
            bucket.ensure(self.settings)

    def _wait_http(self, name: str, url: str) -> None:
        self._wait_process(
            name, lambda: httpx.get(url, timeout=2).status_code == 200, f"{name} at {url}"
        )

    def _read_metrics_port(self, key: str) -> None:
        """Wait for the port the process ``key`` got for its metrics (it binds port 0 and writes
        the port to its file) and record the URL it serves them at."""
        path = self._port_files.pop(key)
        port = self._wait_process(
            key,
            lambda: path.exists() and int(path.read_text()),
            f"{key} writing its metrics port to {path}",
        )
        self.metrics_urls[key] = f"http://127.0.0.1:{port}/metrics"
        if key in self.gateway_keys():  # each gateway process answers its metrics once it serves
            self.ready_urls[key] = self.metrics_urls[key]

    def _wait_process(self, name: str, probe: Callable[[], T | None], describe: str) -> T:
        """``wait_for(probe)`` on process ``name`` (given up when it dies), its log's tail in
        the error."""
        process = self.processes[name]
        try:
            return wait_for(
                probe, timeout=self.options.start_timeout, describe=describe, abort=process.death
            )
        except WaitAborted as exc:
            raise StackError(str(exc), detail=process.log_tail()) from None
        except WaitTimeout as exc:
            raise StackError(
                f"{exc}; its log: {process.log_path}", detail=process.log_tail()
            ) from None

    def wait_for_consumers(self, worker_name: str, timeout: float | None = None) -> None:
        """Wait until every queue of a worker has a consumer (the worker is really consuming)."""
        spec = topology.worker(worker_name)
        process = self.processes.get(f"worker-{worker_name}")
        assert self.settings is not None

        def consuming() -> bool:
            with Connection(self.settings.broker_url, connect_timeout=3) as conn:
                counts = {q: c for q, _, c in topology.iter_depths(conn)}
            return all(counts.get(queue, 0) > 0 for queue in spec.queues)

        try:
            wait_for(
                consuming,
                timeout=timeout or self.options.start_timeout,
                interval=0.2,
                describe=f"worker {worker_name} consuming {', '.join(spec.queues)}",
                abort=process.death if process else None,
            )
        except WaitAborted as exc:
            raise StackError(str(exc), detail=process.log_tail() if process else "") from None
        except WaitTimeout as exc:
            where = f"; its log: {process.log_path}" if process else ""
            raise StackError(
                f"{exc}{where}", detail=process.log_tail() if process else ""
            ) from None

    def start_worker(self, name: str, replica: int = 1) -> ManagedProcess:
        """Start a worker replica of the topology again, e.g. after it was killed, and wait
        until it consumes."""
        assert self.settings is not None
        key = worker_key(name, replica)
        if key in self.processes and self.processes[key].alive():
            raise StackError(f"{key} is already running")
        process = self._spawn_worker(name, replica)
        self.wait_for_consumers(name)
        return process

    def reset(self, fake_configs: Mapping[str, str] | None = None) -> None:
        """Bring the running stack back to as it was started, for another run on it: a process
        that exited is started again, the workers finish what they hold and every queue is
        emptied, the sandbox's Redis keys and the app's rows (all but ``KEPT_TABLES``) are
        deleted, and each fake restarts its counters and random sequence, with the JSON config
        ``fake_configs`` gives it (by name: ``openai``, ``kakao``)."""
        assert self.settings is not None, "reset needs a started stack"
        for key, process in list(self.processes.items()):
            if not process.alive():
                self.processes[key] = process.restarted().start()
                self._wait_ready(key)
        wait_for(
            lambda: self._purge_queues() == 0 and self._workers_idle(),
            timeout=self.options.start_timeout,
            interval=0.2,
            describe="the workers to finish the tasks they hold",
        )
        self._wait_counts_caught_up()
        self.sandbox.delete_keys()
        self._empty_tables()
        for name in FAKES:
            base = self.fake_url(name)
            config = (fake_configs or {}).get(name)
            if config is not None:
                httpx.put(f"{base}/_mock/config", content=config, timeout=10).raise_for_status()
            httpx.post(f"{base}/_mock/reset", timeout=10).raise_for_status()

    def _purge_queues(self) -> int:
        """Drop every ready message of the topology's queues; how many there were."""
        assert self.settings is not None
        with Connection(self.settings.broker_url, connect_timeout=5) as conn:
            channel = conn.default_channel
            return sum(queue(channel).purge() or 0 for queue in topology.kombu_queues())

    def _wait_counts_caught_up(self) -> None:
        """Until the management API shows the purged queues empty: its counts lag the queues by
        up to its statistics interval (5 s), and the next run's collector would read the
        messages just purged (120 of a poison flood in q.dlq, as the next run's maximum)."""
        from harness.collect.rabbitmq import RabbitSampler

        assert self.settings is not None
        sampler = RabbitSampler(
            self.settings.broker_url, management_url=self.options.servers.management_url
        )
        try:
            wait_for(
                lambda: all(p.value == 0 for p in sampler.sample() if p.metric == "queue_depth"),
                timeout=self.options.start_timeout,
                interval=0.5,
                describe="RabbitMQ's management API to count the purged queues empty",
            )
        finally:
            sampler.close()

    def _workers_idle(self) -> bool:
        """No worker runs or holds (prefetched) a task: Celery's remote control asks each."""
        from celery import Celery

        assert self.settings is not None
        host = socket.gethostname()
        nodes = [
            f"{worker_node(name, replica)}@{host}"
            for name in self.options.workers
            for replica in range(1, self.options.worker_replicas.get(name, 1) + 1)
        ]
        celery = Celery("reset", broker=self.settings.broker_url)  # the control alone: no tasks
        try:
            inspect = celery.control.inspect(destination=nodes, limit=len(nodes), timeout=5)
            held = [inspect.active(), inspect.reserved()]
        finally:
            celery.close()
        return all(
            answer is not None and set(answer) == set(nodes) and not any(answer.values())
            for answer in held
        )

    def _empty_tables(self) -> None:
        """Delete every row of the app's tables but ``KEPT_TABLES``."""
        assert self.settings is not None
        with psycopg.connect(
            libpq_url(self.settings.database_url), autocommit=True, connect_timeout=5
        ) as conn:
            tables = conn.execute(
                "SELECT format('%%I.%%I', schemaname, tablename) FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
                "AND tablename <> ALL(%s)",
                [list(KEPT_TABLES)],
            ).fetchall()
            if tables:
                conn.execute("SET lock_timeout = '10s'")
                conn.execute(f"TRUNCATE {', '.join(t for (t,) in tables)} RESTART IDENTITY")

    def kill_process(self, key: str) -> None:
        """SIGKILL one process of the stack (a crash, on purpose: a fault). The one call that
        kills a stack process on purpose, so a watchdog can be told it was intended."""
        process = self.processes.get(key)
        if process is None:
            raise StackError(f"no process {key!r} in the stack; known: {', '.join(self.processes)}")
        process.kill()

    def gateway_keys(self) -> list[str]:
        return [gateway_key(r) for r in range(1, self.options.gateway_processes + 1)]

    def _spawn_gateway(self, port: int, replica: int, env: dict[str, str]) -> ManagedProcess:
        """One of the gateway's processes, all on ``port`` (SO_REUSEPORT), each with its own
        metrics port (scraped during runs)."""
        key = gateway_key(replica)
        port_file = self._port_file(key)
        args = ["reference.gateway:app", "--port", str(port), "--metrics-port=0"]
        args.append(f"--metrics-port-file={port_file}")
        module = "reference.common.serving"
        return self._spawn(ManagedProcess.python_module(key, module, args, env, self.log_dir))

    def _port_file(self, key: str) -> Path:
        """The file process ``key`` is to write its metrics port to (none there yet)."""
        path = self.options.run_dir / "ports" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._port_files[key] = path
        return path

    def _spawn_worker(self, name: str, replica: int = 1) -> ManagedProcess:
        """A worker process with its own metrics port (scraped during runs); replicas after
        the first are called ``worker-<name>-<n>``."""
        assert self._child_settings is not None
        key = worker_key(name, replica)
        env = self._child_settings.to_env()
        # A restarted replica keeps its metrics port (the scrapers keep their URL); a new one
        # gets one from the kernel and writes it down.
        known = self.metrics_urls.get(key)
        if known:
            env["WASTECOACH_WORKER_METRICS_PORT"] = str(urlsplit(known).port)
        else:
            env["WASTECOACH_WORKER_METRICS_PORT"] = "0"
            env["WASTECOACH_WORKER_METRICS_PORT_FILE"] = str(self._port_file(key))
        # A node name per replica (the last --hostname wins): Celery warns about duplicates.
        args = ["run", name, f"--hostname={worker_node(name, replica)}@%h"]
        args += self.options.worker_args.get(name, ())
        return self._spawn(
            ManagedProcess.python_module(key, "reference.workers", args, env, self.log_dir)
        )

    def health(self) -> list[str]:
        """What is wrong with the running stack: processes that exited and queues of the
        topology that no consumer reads (their worker died or never started). Empty: healthy."""
        assert self.settings is not None
        problems = [
            f"{name} exited with code {p.exit_code()}"
            for name, p in self.processes.items()
            if not p.alive()
        ]
        consumed = {q for w in topology.WORKERS for q in w.queues}
        try:
            with Connection(self.settings.broker_url, connect_timeout=3) as conn:
                depths = list(topology.iter_depths(conn))
        except Exception as exc:
            return [*problems, f"broker does not answer ({type(exc).__name__}: {exc})"]
        problems += [
            f"{queue} has no consumer ({ready} messages waiting)"
            for queue, ready, consumers in depths
            if queue in consumed and consumers == 0
        ]
        return problems

    def stop(self) -> None:
        """Ask every process to stop at once, then wait for each (SIGKILL after its grace),
        then remove the sandbox; ``CleanupError`` names whatever could not be stopped or
        removed (every part is still attempted)."""
        running = [p for p in reversed(list(self.processes.values())) if p.alive()]
        for process in running:
            process.terminate()
        stuck: list[str] = []
        for process in running:
            try:
                process.stop()
            except Exception as exc:
                stuck.append(f"{process.name} (pid {process.pid}: {type(exc).__name__})")
        for proxy in self.proxies.values():
            proxy.stop()
        for sock in self._held_sockets:
            sock.close()
        self._held_sockets.clear()
        try:
            self.sandbox.close()
        except CleanupError as exc:
            if not stuck:
                raise
            raise CleanupError(f"{exc.message}; and could not stop {', '.join(stuck)}") from exc
        if stuck:
            raise CleanupError(f"could not stop {', '.join(stuck)}; kill them by hand")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reporting ---------------------------------------------------------------------------
    def urls(self) -> dict[str, str]:
        assert self.settings is not None
        return {
            "api": f"{self.base_url}/api/v1",
            "openapi": f"{self.base_url}/docs",
            "metrics": f"{self.base_url}/metrics",
            "s3 (moto)": self.s3_url,
            "openai (mock)": self.openai_url,
            "kakao map (fake)": self.kakao_url,
            "oauth providers (fake)": self.oauth_url,
            "database": self.settings.database_url,
            "broker": self.settings.broker_url,
            "redis": f"{self.settings.redis_url} (prefix {self.settings.redis_prefix})",
            "logs": str(self.log_dir),
        }

    def logs_digest(self) -> str:
        return "\n".join(
            f"--- {name} ({'running' if p.alive() else f'exit {p.exit_code()}'}) ---\n"
            f"{p.log_tail(20)}"
            for name, p in self.processes.items()
        )
