"""A metrics listener on port 0 gets a port from the kernel and reports it: the local stack
starts its gateway and workers so (no port chosen beforehand that another process could take
before the listener binds it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from harness.stack.waits import wait_for
from reference.common.telemetry import serve_metrics


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app, for the serving process below (its HTTP side is not tested)."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_port_zero_serves_on_the_port_it_writes(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Counter("probe_total", "a counter only this registry has", registry=registry).inc()
    port_file = tmp_path / "port"
    port = serve_metrics(0, addr="127.0.0.1", registry=registry, port_file=str(port_file))
    assert port > 0
    assert port_file.read_text() == str(port)
    assert not list(tmp_path.glob("*.partial"))
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "probe_total 1.0" in body


def test_a_gateway_process_on_metrics_port_zero_reports_the_port_it_serves(
    tmp_path: Path,
) -> None:
    port_file = tmp_path / "gateway-metrics-port"
    args = ["reference.common.serving", f"{__name__}:app", "--port=0"]
    command = [sys.executable, "-m", *args, "--metrics-port=0", f"--metrics-port-file={port_file}"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            port = wait_for(
                lambda: port_file.exists() and int(port_file.read_text()),
                timeout=60,
                describe=f"the metrics port in {port_file}",
                abort=lambda: None if process.poll() is None else f"exited {process.returncode}",
            )
            answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            assert answer.status_code == 200 and "python_info" in answer.text
        finally:
            process.terminate()
