"""Shared helpers for the provider tests."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ports import port_is_free


@pytest.fixture
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the WASTECOACH_* URL variables so the defaults apply."""
    for name in ("WASTECOACH_DATABASE_URL", "WASTECOACH_REDIS_URL", "WASTECOACH_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _assert_gone(server: EphemeralServer, workdir: Path, ports: list[int], pid: int) -> None:
    assert not workdir.exists(), f"{workdir} survived stop()"
    for port in ports:
        assert port_is_free(port), f"port {port} still taken after stop()"
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the server ran as its own process group: nothing of it is left
    assert server.pid is None
    assert server.workdir is None


@pytest.fixture
def temp_dirs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], set[Path]]]:
    """Lists the ephemeral working directories of a kind that exist now, in a temporary root of
    the test's own: other tests (other xdist workers, other runs) make theirs in /tmp meanwhile.
    A short path, as /tmp's: PostgreSQL puts its Unix socket in the working directory; and
    searchable by others, as /tmp is, for the user a server started by root runs as."""
    root = Path(tempfile.mkdtemp(prefix="wastecoach-test-"))
    root.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield lambda kind: set(root.glob(f"wastecoach-{kind}-*"))
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def assert_gone() -> Callable[[EphemeralServer, Path, list[int], int], None]:
    """Checks that after ``stop()`` the directory, ports and processes are all gone."""
    return _assert_gone
