"""A mock of OpenAI's chat completions API for the image-analysis path.

It answers vision requests the way the AI worker expects (a JSON object naming the item, its
category and the disposal steps) by recognising catalog photos (:mod:`harness.mocks.catalog`), and
it behaves like the paid service under load: latency drawn from a distribution and slept
asynchronously (so one process serves many concurrent calls), 500/503 errors, 429 with
``retry-after``, answers that are not JSON, and requests held past the client's timeout.

The pieces: :mod:`~harness.mocks.openai_config` (the config), :mod:`~harness.mocks.openai_answers`
(reading requests, the answer for a photo, OpenAI's wire format), :mod:`~harness.mocks.openai_mock`
(outcome draws and stats, shared with the respx fixture so in-process and out-of-process fakes
answer alike) and this module (the HTTP app, a threaded server for tests, the command line).

Run it with ``python -m harness.mocks.openai_server --port 8080`` and point the SDK at
``http://127.0.0.1:8080/v1``. Admin: ``GET/PUT /_mock/config``, ``GET /_mock/stats``,
``POST /_mock/reset``, ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from harness.mocks import cli_config
from harness.mocks.admin import add_admin_routes
from harness.mocks.openai_answers import answer_for_image
from harness.mocks.openai_config import MockOpenAIConfig
from harness.mocks.openai_mock import MockOpenAI

__all__ = [
    "MockOpenAI",
    "MockOpenAIConfig",
    "MockOpenAIServer",
    "answer_for_image",
    "create_app",
    "main",
]


def create_app(config: MockOpenAIConfig | None = None) -> FastAPI:
    """The mock as an ASGI app; ``app.state.mock`` is its :class:`MockOpenAI`."""
    mock = MockOpenAI(config)
    app = FastAPI(title="Mock OpenAI (wastecoach harness)", docs_url=None, redoc_url=None)
    app.state.mock = mock

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        # Decoding the photo is CPU work: off the event loop, so held calls keep their timing.
        reply = await run_in_threadpool(mock.reply, await request.body())
        with mock.in_flight():
            if reply.delay > 0:
                await asyncio.sleep(reply.delay)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    add_admin_routes(app, mock, MockOpenAIConfig)
    return app


class MockOpenAIServer:
    """The mock served by uvicorn on a thread of this process, testcontainers-style.

    ``with MockOpenAIServer(config) as server: OpenAI(base_url=server.base_url(), ...)``.
    Port 0 (the default) binds a free port before start() returns, so there is no race.
    """

    def __init__(
        self,
        config: MockOpenAIConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self.app = create_app(config)
        self._host, self._port, self._startup_timeout = host, port, startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def mock(self) -> MockOpenAI:
        """The running mock, to reconfigure or read stats without HTTP."""
        return self.app.state.mock

    def start(self) -> Self:
        """Bind, serve on a daemon thread, and return once uvicorn accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"mock-openai-{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"mock OpenAI server did not start on {self.url()} within "
                    f"{self._startup_timeout} s; run with log_level='debug' to see why"
                )
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving at once; requests still held (latency, hangs) are dropped."""
        if self._server is not None:
            self._server.should_exit = self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def url(self) -> str:
        """Where the server listens, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self._host}:{self._port}"

    def base_url(self) -> str:
        """What to give ``openai.OpenAI(base_url=...)``."""
        return f"{self.url()}/v1"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- command line --------------------------------------------------------------------------


def parse_latency(spec: str) -> dict[str, Any]:
    """``uniform:LOW:HIGH``, ``lognormal:MEDIAN:SIGMA`` or ``fixed:SECONDS`` as a config dict."""
    kind, *raw = spec.split(":")
    names = {"uniform": ("low", "high"), "lognormal": ("median", "sigma"), "fixed": ("seconds",)}
    if kind not in names or len(raw) != len(names[kind]):
        raise argparse.ArgumentTypeError(
            f"{spec!r}: use uniform:LOW:HIGH, lognormal:MEDIAN:SIGMA or fixed:SECONDS"
        )
    try:
        return {"kind": kind} | {
            name: float(value) for name, value in zip(names[kind], raw, strict=True)
        }
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: the numbers are not numbers") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m harness.mocks.openai_server``."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.mocks.openai_server", description="Serve the mock OpenAI API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    cli_config.add_config_argument(parser, MockOpenAIConfig)
    parser.add_argument(
        "--latency",
        type=parse_latency,
        help="e.g. uniform:2:5 (the default), lognormal:3:0.35, fixed:3",
    )
    parser.add_argument(
        "--classify-latency",
        type=parse_latency,
        help="the same, for CLASSIFY_ONLY calls (default uniform:1:3)",
    )
    for flag in (
        "error-rate",
        "rate-limit-rate",
        "invalid-json-rate",
        "timeout-rate",
        "hang-seconds",
        "retry-after-seconds",
        "time-scale",
    ):
        parser.add_argument(f"--{flag}", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--log-level", default="info")
    return parser


def config_from_args(args: argparse.Namespace) -> MockOpenAIConfig:
    """The config file (if any) with the flags given on top; ``ValueError`` explains a bad one."""
    return cli_config.config_from_args(args, MockOpenAIConfig, "mock")


def main(argv: list[str] | None = None) -> None:
    """Serve the mock until interrupted."""
    cli_config.serve(build_parser(), MockOpenAIConfig, "mock", create_app, argv)


if __name__ == "__main__":
    main()
