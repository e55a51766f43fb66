"""How the HTTP services are served (uvicorn flags every deployment shares).

Keep-alive: a server must not close an idle connection before its clients do, or a request
sent on a connection the server is closing at that moment fails with "server disconnected"
(seen under the capacity scenario: uvicorn's default 5 s equals httpx's own 5 s). Behind the
seed's ALB (idle timeout 60 s by default) AWS asks targets to keep connections longer than the
balancer; 75 s does, and outlasts the harness's and the app's HTTP clients too.

``main`` runs one of several processes serving an app on one port (``SO_REUSEPORT``), each with
its own metrics port: the local stack's gateway replicas.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn

from reference.common.telemetry import serve_metrics

KEEP_ALIVE_SECONDS = 75
UVICORN_FLAGS = (f"--timeout-keep-alive={KEEP_ALIVE_SECONDS}",)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes can bind too (SO_REUSEPORT): the kernel spreads the
    connections over every process listening on the port, with no router in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class _Server(uvicorn.Server):
    """uvicorn, serving the process's own metrics on a port of their own once the app is up
    (the shared port's /metrics answers for whichever process took the connection)."""

    def __init__(
        self, config: uvicorn.Config, metrics_port: int | None, metrics_port_file: str | None
    ) -> None:
        super().__init__(config)
        self.metrics_port = metrics_port
        self.metrics_port_file = metrics_port_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.metrics_port is not None and not self.should_exit:
            serve_metrics(
                self.metrics_port, addr=self.config.host, port_file=self.metrics_port_file
            )


def main(argv: list[str] | None = None) -> None:
    """``python -m reference.common.serving APP --port P [--metrics-port M]``: one of several
    processes serving ``APP`` on one port (the local stack's gateway replicas)."""
    parser = argparse.ArgumentParser(prog="python -m reference.common.serving")
    parser.add_argument("app", help="the ASGI app, module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, default=None, help="0: the kernel picks one")
    parser.add_argument(
        "--metrics-port-file", default=None, help="where to write the metrics port it got"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    sock = reuse_port_socket(args.host, args.port)
    config = uvicorn.Config(
        args.app,
        host=args.host,
        port=args.port,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        access_log=False,
        log_level=args.log_level,
    )
    _Server(config, args.metrics_port, args.metrics_port_file).run(sockets=[sock])


if __name__ == "__main__":
    main()
