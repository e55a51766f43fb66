"""The TCP proxy in front of a run's server: it forwards, delays and resets on demand."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from harness.stack.proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _round_trip(port: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        began = time.perf_counter()
        sock.sendall(payload)
        answer = sock.recv(4096)
        return answer, time.perf_counter() - began


def test_it_forwards_both_ways(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port, name="echo") as proxy:
        assert proxy.port != echo_port
        assert _round_trip(proxy.port)[0] == b"ping"
        assert proxy.connections == 1


def test_latency_delays_the_answers_until_cleared(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        proxy.latency(0.3)
        answer, took = _round_trip(proxy.port)
        assert answer == b"ping" and took >= 0.3
        proxy.clear()
        assert _round_trip(proxy.port)[1] < 0.3


def test_reset_cuts_open_and_new_connections_until_cleared(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        held = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        held.sendall(b"a")
        assert held.recv(16) == b"a"
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            for _ in range(50):  # the reset reaches the held connection within a few reads
                held.sendall(b"b")
                if not held.recv(16):
                    raise AssertionError("closed cleanly, not reset")
        held.close()
        with pytest.raises(ConnectionResetError):
            _round_trip(proxy.port)
        proxy.clear()
        assert _round_trip(proxy.port)[0] == b"ping"


def test_a_server_that_is_down_looks_like_a_reset() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with TcpProxy("127.0.0.1", closed_port) as proxy, pytest.raises(ConnectionResetError):
        _round_trip(proxy.port)
