"""An ephemeral PostgreSQL: ``initdb`` in a temporary directory, ``postgres`` on a free port."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from psycopg import sql

from harness.providers.base import ProviderError
from harness.providers.binaries import (
    command_version,
    find_executable,
    require_version,
)
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ephemeral.privileges import RunAs, unprivileged_user
from harness.providers.ports import LOOPBACK
from harness.providers.probes import postgres_client
from harness.providers.readiness import tail_text

BINDIR_VAR = "WASTECOACH_POSTGRES_BINDIR"
# Debian/Ubuntu keep each major outside PATH; Homebrew and source builds use the others.
SEARCH_DIRS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
INSTALL_HINT = "install PostgreSQL 13 or newer (apt-get install postgresql)"

# Durability buys nothing for a throw-away cluster and costs seconds per test run.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class EphemeralPostgres(EphemeralServer):
    """A private PostgreSQL cluster, trusted logins on 127.0.0.1 only, deleted on ``stop()``.

    As root, ``initdb`` and ``postgres`` run as an unprivileged user (see ``privileges``).
    ``settings`` adds ``-c name=value`` server settings (e.g. ``max_connections``).
    """

    default_startup_timeout = 30.0
    # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT

    def __init__(
        self,
        *,
        port: int | None = None,
        user: str = "postgres",
        database: str = "postgres",
        settings: Mapping[str, str] | None = None,
        startup_timeout: float | None = None,
    ) -> None:
        super().__init__("postgres", port=port, startup_timeout=startup_timeout)
        self.user = user
        self.database = database
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        self._postgres: Path | None = None
        self._initdb: Path | None = None
        self._user: RunAs | None = None

    def _locate(self) -> None:
        postgres = find_executable(
            "postgres",
            override_var=BINDIR_VAR,
            extra_dirs=SEARCH_DIRS,
            spec=self.spec,
            hint=INSTALL_HINT,
        )
        initdb = postgres.with_name("initdb")
        if not initdb.is_file():
            raise ProviderError(
                f"initdb is missing beside {postgres}; {INSTALL_HINT}, or set {BINDIR_VAR} "
                "to a directory holding both"
            )
        require_version(
            command_version([postgres, "--version"], self.spec),
            postgres,
            self.spec,
            f"{INSTALL_HINT}, or set {BINDIR_VAR}",
        )
        self._postgres, self._initdb = postgres, initdb

    def _run_as(self) -> RunAs | None:
        if self._user is None:
            self._user = unprivileged_user()
        return self._user

    def _prepare(self, workdir: Path, ports: list[int]) -> None:
        assert self._initdb is not None
        run_as = self._run_as()
        result = subprocess.run(
            [
                str(self._initdb),
                "--pgdata",
                str(workdir / "data"),
                "--username",
                self.user,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=self.startup_timeout,
            check=False,
            **(run_as.popen_kwargs() if run_as is not None else {}),
        )
        if result.returncode != 0:
            raise ProviderError(
                f"initdb failed with code {result.returncode} in {workdir}; its output below "
                "says why",
                details=tail_text(result.stdout + result.stderr),
            )

    def _command(self, workdir: Path, ports: list[int]) -> list[str]:
        assert self._postgres is not None
        command = [
            str(self._postgres),
            "-D",
            str(workdir / "data"),
            "-p",
            str(ports[0]),
            "-h",
            LOOPBACK,
            # The Unix socket goes into our directory: the default one may not exist or be ours.
            "-k",
            str(workdir),
        ]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        return command

    def _url_for(self, ports: list[int]) -> str:
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{ports[0]}/{self.database}"

    def _probe_url(self, ports: list[int]) -> str:
        # The app's database does not exist until _after_ready creates it.
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{ports[0]}/postgres"

    def _after_ready(self, url: str) -> None:
        if self.database == "postgres":
            return
        with postgres_client(self._probe_url(self.ports)) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
