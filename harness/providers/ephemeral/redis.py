"""An ephemeral Redis: ``redis-server`` on a free port, no persistence, 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.providers.binaries import command_version, find_executable, require_version
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ports import LOOPBACK

SERVER_VAR = "WASTECOACH_REDIS_SERVER"
SEARCH_DIRS = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")
INSTALL_HINT = "install Redis 6 or newer (apt-get install redis-server)"


class EphemeralRedis(EphemeralServer):
    """A private Redis with persistence off, deleted on ``stop()``.

    ``settings`` adds configuration directives (e.g. ``{"maxmemory": "64mb",
    "maxmemory-policy": "allkeys-lru"}`` for eviction tests).
    """

    default_startup_timeout = 15.0

    def _before_halt(self) -> None:
        # A restart (redis-restart) is not a data loss: like a production Redis with its
        # snapshot, the data comes back. Persistence stays off otherwise, for speed.
        client = self.client()
        try:
            client.save()
        finally:
            client.close()

    def __init__(
        self,
        *,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float | None = None,
    ) -> None:
        super().__init__("redis", port=port, startup_timeout=startup_timeout)
        self.settings = dict(settings or {})
        self._server: Path | None = None

    def _locate(self) -> None:
        server = find_executable(
            "redis-server",
            override_var=SERVER_VAR,
            extra_dirs=SEARCH_DIRS,
            spec=self.spec,
            hint=INSTALL_HINT,
        )
        require_version(
            command_version([server, "--version"], self.spec),
            server,
            self.spec,
            f"{INSTALL_HINT}, or set {SERVER_VAR}",
        )
        self._server = server

    def _prepare(self, workdir: Path, ports: list[int]) -> None:
        """Nothing to prepare: everything is on the command line."""

    def _command(self, workdir: Path, ports: list[int]) -> list[str]:
        assert self._server is not None
        directives = {
            "port": str(ports[0]),
            "bind": LOOPBACK,
            "dir": str(workdir),
            "daemonize": "no",
            # Log to stdout, which goes to server.log.
            "logfile": "",
            # Nothing to keep: no RDB snapshots, no append-only file.
            "save": "",
            "appendonly": "no",
            **self.settings,
        }
        command = [str(self._server)]
        for name, value in directives.items():
            command += [f"--{name}", value]
        return command

    def _url_for(self, ports: list[int]) -> str:
        return self.spec.url(LOOPBACK, ports[0])
