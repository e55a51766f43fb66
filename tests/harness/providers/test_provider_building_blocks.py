"""Ports, readiness waits, version checks and URL redaction: no servers needed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.providers.base import ProviderError, ProviderTimeout, redact
from harness.providers.binaries import parse_version
from harness.providers.ephemeral.rabbitmq import rabbitmq_version, real_server_script
from harness.providers.ports import free_port, port_is_free, require_free_port
from harness.providers.probes import libpq_url
from harness.providers.readiness import process_alive, tail_file, wait_ready


def test_free_port_is_bindable() -> None:
    assert port_is_free(free_port())


def test_listening_port_is_not_free(listening_port: int) -> None:
    assert not port_is_free(listening_port)


def test_occupied_port_message_names_port_and_remedy(listening_port: int) -> None:
    with pytest.raises(ProviderError) as caught:
        require_free_port(listening_port, "ephemeral Redis")
    message = str(caught.value)
    assert f"port {listening_port} on 127.0.0.1 is already in use" in message
    assert "leave the port unset" in message
    assert "\n" not in message


def test_out_of_range_port_is_refused() -> None:
    with pytest.raises(ProviderError, match="not a TCP port"):
        require_free_port(70000, "ephemeral Redis")


def test_wait_ready_returns_once_the_check_passes() -> None:
    calls = []

    def flips_on_third_call() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")

    wait_ready([flips_on_third_call], timeout=5, what="test server")
    assert len(calls) == 3


def test_wait_ready_timeout_carries_the_log_tail() -> None:
    def never() -> None:
        raise ConnectionRefusedError("connection refused")

    log = "\n".join(f"line {n}" for n in range(100))
    with pytest.raises(ProviderTimeout) as caught:
        wait_ready([never], timeout=0.3, what="test server", logs=lambda: log)
    error = caught.value
    assert "test server was not ready within 0.3 s" in error.message
    assert "connection refused" in error.message
    assert "\n" not in error.message
    assert "line 99" in error.details
    assert "line 0\n" not in error.details  # only the tail
    assert "line 99" in str(error)


def test_a_dead_process_fails_the_wait_at_once() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    began = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        wait_ready(
            [process_alive(process, "test server"), lambda: None],
            timeout=30,
            what="test server",
        )
    assert time.monotonic() - began < 5
    assert "exited with code 3" in caught.value.message
    assert not isinstance(caught.value, ProviderTimeout)


def test_tail_file_reads_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"{n}\n" for n in range(1000)))
    assert tail_file(log, lines=2) == "998\n999\n"
    assert tail_file(tmp_path / "missing.log") == ""


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)", (15, 20)),
        ("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", (7, 0, 15)),
        ("no digits here", None),
    ],
)
def test_parse_version(text: str, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


def test_redact_hides_passwords_only() -> None:
    assert redact("amqp://guest:secret@127.0.0.1:5672//") == "amqp://guest:***@127.0.0.1:5672//"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_libpq_url_drops_the_driver() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    assert libpq_url(url) == "postgresql://postgres@127.0.0.1:5432/postgres"


def test_debian_wrapper_resolves_to_the_real_script(tmp_path: Path) -> None:
    real_dir = tmp_path / "lib/rabbitmq_server-3.10.8/sbin"
    real_dir.mkdir(parents=True)
    (real_dir / "rabbitmq-server").write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "lib/rabbitmq/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "rabbitmq-script-wrapper").write_text("#!/bin/sh\n")
    (bin_dir / "rabbitmq-server").symlink_to(real_dir / "rabbitmq-server")
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "rabbitmq-server").symlink_to(bin_dir / "rabbitmq-script-wrapper")

    script = real_server_script(sbin / "rabbitmq-server")

    assert script == (real_dir / "rabbitmq-server").resolve()
    assert rabbitmq_version(script) == (3, 10, 8)


def test_rabbitmq_version_from_the_plugins_directory(tmp_path: Path) -> None:
    (tmp_path / "sbin").mkdir()
    (tmp_path / "plugins/rabbit-3.9.29").mkdir(parents=True)
    assert rabbitmq_version(tmp_path / "sbin/rabbitmq-server") == (3, 9, 29)


def test_rabbitmq_version_unknown(tmp_path: Path) -> None:
    (tmp_path / "sbin").mkdir()
    assert rabbitmq_version(tmp_path / "sbin/rabbitmq-server") is None
