"""An isolated corner of shared servers for one run: its own PostgreSQL database, RabbitMQ
vhost and Redis key prefix, so test runs and CI jobs on the same servers never meet."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx
import psycopg
import redis
from kombu import Connection

from harness.collect.redis_stats import with_client_name
from harness.errors import CleanupError, HarnessError
from harness.providers.probes import libpq_url
from reference.common.settings import Settings


class ServerUnreachable(HarnessError):
    """A storage server does not answer; the message names it and what to start or set."""


@dataclass(frozen=True)
class ServerUrls:
    """Where the servers are (admin-capable URLs); ``management_url`` is RabbitMQ's management
    API (empty: port 15672 on the broker's host)."""

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    management_url: str = ""  # RabbitMQ's management API; empty: see management_api()

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerUrls:
        return cls(
            settings.database_url,
            settings.redis_url,
            settings.broker_url,
            settings.broker_management_url,
        )

    @classmethod
    def from_environment(cls) -> ServerUrls:
        """The servers ``WASTECOACH_*_URL`` name (the defaults on 127.0.0.1 without them); the
        harness runs development stacks, so it says so rather than needing the variable."""
        return cls.from_settings(Settings(environment="development"))


def management_api(broker_url: str, management_url: str = "") -> str:
    """The management API's base (``.../api``): ``management_url`` if set, else the broker's
    host on the plugin's standard port 15672."""
    if management_url:
        return f"{management_url.rstrip('/').removesuffix('/api')}/api"
    return f"http://{urlsplit(broker_url).hostname or '127.0.0.1'}:15672/api"


def check_management(urls: ServerUrls) -> None:
    """Fail fast when RabbitMQ's management API (queue depths for the gates) does not answer."""
    api = management_api(urls.broker_url, urls.management_url)
    parts = urlsplit(urls.broker_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    try:
        httpx.get(f"{api}/overview", auth=auth, timeout=3).raise_for_status()
    except httpx.HTTPError as exc:
        raise ServerUnreachable(
            f"RabbitMQ's management API at {api} does not answer ({type(exc).__name__}); "
            "enable it (rabbitmq-plugins enable rabbitmq_management) or set "
            "WASTECOACH_BROKER_MANAGEMENT_URL"
        ) from None


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def check_servers(urls: ServerUrls) -> None:
    """Fail fast, naming every server that does not answer and how to start it."""
    problems: list[str] = []
    try:
        with psycopg.connect(libpq_url(urls.database_url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        problems.append(
            f"PostgreSQL at {urls.database_url} does not answer ({type(exc).__name__}); start it "
            "or set WASTECOACH_DATABASE_URL"
        )
    try:
        redis.Redis.from_url(urls.redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        problems.append(
            f"Redis at {urls.redis_url} does not answer ({type(exc).__name__}); start it or set "
            "WASTECOACH_REDIS_URL"
        )
    try:
        with Connection(urls.broker_url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        problems.append(
            f"RabbitMQ at {urls.broker_url} does not answer ({type(exc).__name__}); start it or "
            "set WASTECOACH_BROKER_URL"
        )
    if problems:
        raise ServerUnreachable("; ".join(problems))


class VhostAdmin:
    """Creates and deletes RabbitMQ vhosts: the management API if it answers, else rabbitmqctl
    (only for a broker on this machine)."""

    def __init__(self, broker_url: str, management_url: str = "") -> None:
        parts = urlsplit(broker_url)
        self.host = parts.hostname or "127.0.0.1"
        self.auth = (parts.username or "guest", parts.password or "guest")
        self.api = management_api(broker_url, management_url)

    def _api_answers(self) -> bool:
        try:
            return httpx.get(f"{self.api}/overview", auth=self.auth, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _ctl(self, *args: str) -> None:
        if shutil.which("rabbitmqctl") is None or not self.host.startswith("127."):
            raise ServerUnreachable(
                "cannot create a RabbitMQ vhost: enable the management plugin "
                "(rabbitmq-plugins enable rabbitmq_management) or run on the broker's machine"
            )
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def create(self, vhost: str) -> None:
        if self._api_answers():
            name = quote(vhost, safe="")
            httpx.put(f"{self.api}/vhosts/{name}", auth=self.auth, timeout=10).raise_for_status()
            httpx.put(
                f"{self.api}/permissions/{name}/{quote(self.auth[0], safe='')}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
                auth=self.auth,
                timeout=10,
            ).raise_for_status()
            return
        self._ctl("add_vhost", vhost)
        self._ctl("set_permissions", "-p", vhost, self.auth[0], ".*", ".*", ".*")

    def delete(self, vhost: str) -> None:
        if self._api_answers():
            answer = httpx.delete(
                f"{self.api}/vhosts/{quote(vhost, safe='')}", auth=self.auth, timeout=30
            )
            if answer.status_code not in (204, 404):
                answer.raise_for_status()
            return
        self._ctl("delete_vhost", vhost)


@dataclass
class Sandbox:
    """Per-run database, vhost and key prefix on shared servers; ``close()`` removes them.

    ``close()`` undoes only what ``open()`` made, each part on its own: one server gone does
    not leave the others' parts behind, and what could not be removed is named in one
    :class:`~harness.errors.CleanupError` (never a traceback from a dead server's client).
    """

    servers: ServerUrls = field(default_factory=ServerUrls)
    name: str = field(default_factory=lambda: f"wc_{uuid.uuid4().hex[:10]}")
    database_url: str = ""
    broker_url: str = ""
    redis_prefix: str = ""
    _made: set[str] = field(default_factory=set, repr=False)

    def open(self) -> Sandbox:
        check_servers(self.servers)
        self.redis_prefix = f"{self.name}:"
        self._made.add("redis keys")  # the stack writes them; close() removes them
        try:
            with psycopg.connect(libpq_url(self.servers.database_url), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self._made.add("database")
            self.database_url = _with_path(self.servers.database_url, f"/{self.name}")
            self._vhosts().create(self.name)
            self._made.add("vhost")
            self.broker_url = _with_path(self.servers.broker_url, f"/{quote(self.name, safe='')}")
        except BaseException:
            with contextlib.suppress(CleanupError):  # the failure to open is the one to report
                self.close()
            raise
        return self

    def _vhosts(self) -> VhostAdmin:
        return VhostAdmin(self.servers.broker_url, self.servers.management_url)

    def close(self) -> None:
        """Remove what ``open()`` made; ``CleanupError`` names what is left behind."""
        steps = {
            "database": (self._drop_database, f"database {self.name} on PostgreSQL"),
            "vhost": (lambda: self._vhosts().delete(self.name), f"RabbitMQ vhost {self.name}"),
            "redis keys": (self.delete_keys, f"Redis keys {self.redis_prefix}*"),
        }
        left: list[str] = []
        for part, (remove, what) in steps.items():
            if part not in self._made:
                continue
            try:
                remove()
            except Exception as exc:
                left.append(f"{what} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
            else:
                self._made.discard(part)
        if left:
            raise CleanupError(
                f"sandbox cleanup could not remove {'; '.join(left)}; is the server up? "
                "remove them by hand once it is"
            )

    def _drop_database(self) -> None:
        from reference.common.db import dispose_engine

        dispose_engine(self.database_url)  # this process's pooled connections go first
        with psycopg.connect(
            libpq_url(self.servers.database_url), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def delete_keys(self) -> None:
        """Delete every Redis key under the sandbox's prefix."""
        client = redis.Redis.from_url(
            self.servers.redis_url, socket_connect_timeout=3, socket_timeout=10
        )
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()

    def settings(self, **overrides: object) -> Settings:
        return Settings(
            environment="development",
            database_url=self.database_url,
            broker_url=self.broker_url,
            # Named after the run, so its clients can be told from other runs' (the clients gate).
            redis_url=with_client_name(self.servers.redis_url, self.name),
            redis_prefix=self.redis_prefix,
            broker_management_url=self.servers.management_url,
            **overrides,  # type: ignore[arg-type]
        )

    def __enter__(self) -> Sandbox:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
