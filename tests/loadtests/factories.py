"""Scenario files for the load tests, written the way users write them, and a tiny HTTP server
on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GATE = """
[[gates]]
name = "p95 processing time under 5 s"
metric = "processing_time"
thresholds = ["p(95) < 5000"]
"""


def scenario_toml(
    *,
    name: str = "lt-test",
    stages: str,
    processes: int = 2,
    warmup: str = "0s",
    mix: str = 'scan = 1\nfollow = "poll"',
    images: str = "items = 5\nrepeat_probability = 0.8\nsize = [160, 120]",
    seed: int = 1,
    photos_ahead: bool = False,
) -> str:
    return f"""
name = "{name}"
description = "written by tests/loadtests"
seed = {seed}

[load]
warmup = "{warmup}"
locust_processes = {processes}
photos_ahead = {str(photos_ahead).lower()}
{stages}

[mix]
{mix}

[images]
{images}
{GATE}
"""


def closed_stage(duration: str, users: int, spawn_rate: float) -> str:
    return (
        f'\n[[load.stages]]\nduration = "{duration}"\nusers = {users}\nspawn_rate = {spawn_rate}\n'
    )


def open_stage(duration: str, rate: float, max_users: int | None = None) -> str:
    pool = f"\nmax_users = {max_users}" if max_users else ""
    return f'\n[[load.stages]]\nduration = "{duration}"\narrival_rate = {rate}{pool}\n'


def write(folder: Path, text: str, name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@dataclass
class Seen:
    """One request a :class:`TinyServer` received."""

    method: str
    target: str  # path and query, as sent
    host: str | None
    body: bytes


Answer = Callable[[str, str], tuple[int, dict[str, Any] | None]]


class TinyServer:
    """An HTTP server on 127.0.0.1 in a thread: records every request, answers with ``answer``
    (method, path -> status, JSON body or None); 200 and no body by default."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.seen: list[Seen] = []
        reply = answer or (lambda method, path: (200, None))
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append(Seen(self.command, self.path, self.headers.get("Host"), body))
                status, document = reply(self.command, self.path.split("?", 1)[0])
                data = json.dumps(document).encode() if document is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def __enter__(self) -> TinyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def fake_gateway(upload_url: str) -> Any:
    """Answers like the gateway with one finished job; uploads (POST /bucket) answer 204."""
    job = "00000000-0000-4000-8000-000000000001"
    fields = {"key": f"uploads/{job}.jpeg", "Content-Type": "image/jpeg", "policy": "e30="}
    upload = {"method": "POST", "url": upload_url, "fields": fields}
    answers: dict[str, tuple[int, dict[str, Any] | None]] = {
        "/readyz": (200, {"status": "ok"}),
        "/api/v1/waste/analyze": (201, {"job_id": job, "upload": upload}),
        f"/api/v1/waste/upload-complete/{job}": (202, {"job_id": job, "status": "queued"}),
        f"/api/v1/waste/status/{job}": (200, {"job_id": job, "status": "done"}),
        f"/api/v1/waste/result/{job}": (
            200,
            {"job_id": job, "status": "done", "cache_hit": False, "result": {"category": "x"}},
        ),
    }

    def answer(method: str, path: str) -> tuple[int, dict[str, Any] | None]:
        if method == "POST" and path == "/bucket":
            return 204, None
        return answers.get(path, (404, {"code": "not_found"}))

    return answer


@contextlib.contextmanager
def fake_gateway_server() -> Iterator[TinyServer]:
    """A :class:`TinyServer` answering as :func:`fake_gateway`, its uploads addressed to itself."""
    answers: list[Answer] = []
    with TinyServer(lambda method, path: answers[0](method, path)) as server:
        answers.append(fake_gateway(f"{server.url}/bucket"))
        yield server
