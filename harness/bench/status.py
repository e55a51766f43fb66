"""Status polls per second: the gateway's hot path against a bare FastAPI app answering one
Redis GET, both served the same way (the same launcher and process count) on the same machine,
in alternating turns of a few seconds in one run; and the gateway's CPU per request.

Turns, not one stretch each: on a shared machine another job's load comes and goes within a
run, and one app measured in a busy stretch and the other in a calm one gave ratios from 0.42
to 3.2 for the same code. Turns in ABBA order share the machine's state out between the two.

The load is a small raw HTTP/1.1 keep-alive client on asyncio (one request in flight per
connection), so the servers, not the client's HTTP library, set the pace.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from harness.app.auth_client import dev_login
from harness.stack.local import LocalStack
from harness.stack.processes import ManagedProcess, port_of, reserved_port
from harness.stack.waits import wait_for

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TURN_SECONDS = 2.5


@dataclass
class Throughput:
    requests: int
    failures: int
    seconds: float
    cpu_seconds: float

    def __add__(self, other: Throughput) -> Throughput:
        return Throughput(
            self.requests + other.requests,
            self.failures + other.failures,
            self.seconds + other.seconds,
            self.cpu_seconds + other.cpu_seconds,
        )

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def report(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.per_second, 1),
            "server_cpu_ms_per_request": round(1000 * self.cpu_seconds / max(self.requests, 1), 3),
        }


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of the processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


async def _connection(port: int, request: bytes, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[0 if status == 200 else 1] += 1
    finally:
        writer.close()


def hammer(
    port: int, path: str, headers: dict[str, str], seconds: float, connections: int, pids: list[int]
) -> Throughput:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    counts = [0, 0]

    async def main() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *(_connection(port, request, until, counts) for _ in range(connections))
        )

    cpu = cpu_seconds(pids)
    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    return Throughput(counts[0], counts[1], elapsed, cpu_seconds(pids) - cpu)


@dataclass(frozen=True)
class Target:
    """An app under load: its port, the path polled, the request's headers, its processes."""

    port: int
    path: str
    headers: dict[str, str]
    pids: list[int]

    def hammer(self, seconds: float, connections: int) -> Throughput:
        return hammer(self.port, self.path, self.headers, seconds, connections, self.pids)


def turn_count(seconds: float) -> int:
    return max(1, round(seconds / TURN_SECONDS))


def alternate(
    first: Target, second: Target, seconds: float, connections: int
) -> tuple[Throughput, Throughput]:
    """``seconds`` of load on each, in turns of about TURN_SECONDS in ABBA order."""
    turns = turn_count(seconds)
    totals = [Throughput(0, 0, 0.0, 0.0), Throughput(0, 0, 0.0, 0.0)]
    for turn in range(turns):
        order = (0, 1) if turn % 2 == 0 else (1, 0)
        for index in order:
            target = (first, second)[index]
            totals[index] = totals[index] + target.hammer(seconds / turns, connections)
    return totals[0], totals[1]


def compare(stack: LocalStack, seconds: float = 20.0, connections: int = 64) -> dict[str, Any]:
    """The gateway's status route and the bare app on the same job's state, in turns."""
    assert stack.settings is not None
    token = dev_login(stack.base_url)
    auth = {"Authorization": f"Bearer {token}"}
    job = httpx.post(f"{stack.base_url}/api/v1/waste/analyze", json={}, headers=auth).json()
    path = f"/api/v1/waste/status/{job['job_id']}"
    assert httpx.get(f"{stack.base_url}{path}", headers=auth).status_code == 200
    gateway_pids = [stack.processes[k].pid for k in stack.gateway_keys()]
    port = int(stack.base_url.rsplit(":", 1)[1])
    gateway = Target(port, path, auth, gateway_pids)

    # The bare app reads a copy of the same state (a plain string: one GET).
    key = f"{stack.settings.redis_prefix}bench:state"
    client = redis.Redis.from_url(stack.settings.redis_url)
    client.set(key, client.hget(f"{stack.settings.redis_prefix}job:{job['job_id']}", "state"))
    # Held until the bare app's processes are gone, as the stack holds the gateway's port.
    reservation = reserved_port()
    bare_port = port_of(reservation)
    env = {"WASTECOACH_BENCH_REDIS_URL": stack.settings.redis_url, "WASTECOACH_BENCH_KEY": key}
    processes = [
        ManagedProcess.python_module(
            f"bare-{n}",
            "reference.common.serving",
            ["harness.bench.bare:app", "--port", str(bare_port)],
            env,
            stack.log_dir,
        ).start()
        for n in range(len(gateway_pids))
    ]
    try:
        wait_for(
            lambda: _answers(f"http://127.0.0.1:{bare_port}/status/x"),
            timeout=60,
            describe="the bare FastAPI app",
        )
        bare = Target(bare_port, "/status/x", {}, [p.pid for p in processes if p.pid])
        alternate(gateway, bare, 4.0, connections)  # warm-up: pools, caches
        measured, yardstick = alternate(gateway, bare, seconds, connections)
    finally:
        for process in processes:
            process.stop()
        reservation.close()
        client.delete(key)
    return {
        "processes": len(gateway_pids),
        "connections": connections,
        "turns": turn_count(seconds),
        "gateway_status": measured.report(),
        "bare_fastapi_redis_get": yardstick.report(),
        "ratio": round(measured.per_second / yardstick.per_second, 3),
        "goal_ratio": 0.7,
    }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
