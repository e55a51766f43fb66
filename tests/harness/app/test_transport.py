"""The load workers' transport (harness.app.transport.GeventTransport) answers the app's calls as
httpx's own does: the same responses, and the same exception type for every failure, so the rows
a run records (their error kind is the exception's name) do not depend on the transport."""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from harness.app.client import FlowError, WasteClient
from harness.app.transport import GeventTransport

STATUS = {"job_id": "j1", "status": "running", "stage": "model", "percent": 40}


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _json(status: str, payload: object, *headers: str) -> bytes:
    return _answer(status, json.dumps(payload).encode(), "Content-Type: application/json", *headers)


class ScriptedServer:
    """A raw HTTP/1.1 server whose answer to each path is scripted (keep-alive by default), in a
    thread of its own; it records what it was sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self._stop = False
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buffer = b""
        with conn:
            while not self._stop:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                body, buffer = self._read_body(conn, head, buffer)
                self.received.append((head, body))
                path = head.split(b" ")[1].decode()
                if not self._act(conn, path.split("?")[0], head, body):
                    return

    def _read_body(self, conn: socket.socket, head: bytes, buffer: bytes) -> tuple[bytes, bytes]:
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buffer) < length:
            buffer += conn.recv(65536)
        return buffer[:length], buffer[length:]

    def _act(self, conn: socket.socket, path: str, head: bytes, body: bytes) -> bool:
        """Answer one request; False closes the connection."""
        if path == "/status":
            conn.sendall(_json("200 OK", STATUS))
        elif path == "/echo":
            lines = head.decode("latin-1").split("\r\n")
            echoed = {"request_line": lines[0], "headers": lines[1:], "body": body.hex()}
            conn.sendall(_json("201 Created", echoed, "X-Multi: a", "X-Multi: b"))
        elif path == "/refused":
            conn.sendall(_json("429 Too Many Requests", {"code": "limited"}, "Retry-After: 7"))
        elif path == "/gzip":
            packed = gzip.compress(json.dumps(STATUS).encode())
            conn.sendall(_answer("200 OK", packed, "Content-Encoding: gzip"))
        elif path == "/chunked":
            events = [b'event: progress\ndata: {"percent": 50}\n\n', b"event: result\n"]
            events.append(b'data: {"status": "done"}\n\n')
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        elif path == "/close-after":  # answers, then closes the idle keep-alive connection
            conn.sendall(_json("200 OK", STATUS))
            time.sleep(0.05)
            return False
        elif path == "/slow":
            time.sleep(1.0)
            conn.sendall(_json("200 OK", STATUS))
        elif path == "/no-answer":
            return False
        elif path == "/truncated":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            return False
        elif path == "/garbage":
            conn.sendall(b"this is not HTTP at all\r\n\r\n")
            return False
        elif path == "/reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        else:
            conn.sendall(_json("404 Not Found", {"code": "not_found"}))
        return True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer()
    yield running
    running.close()


TRANSPORTS: dict[str, Callable[[], httpx.BaseTransport]] = {
    "httpx": httpx.HTTPTransport,
    "gevent": GeventTransport,
}


def both(call: Callable[[httpx.Client], object], base_url: str, **kw: object) -> list[object]:
    """What ``call`` gives (a value or the exception's type) through each transport."""
    outcomes = []
    for factory in TRANSPORTS.values():
        with httpx.Client(base_url=base_url, transport=factory(), **kw) as client:  # type: ignore[arg-type]
            try:
                outcomes.append(call(client))
            except httpx.HTTPError as exc:
                outcomes.append(type(exc))
    return outcomes


def _seen(response: httpx.Response) -> tuple[object, ...]:
    return (response.status_code, response.reason_phrase, response.json())


@pytest.mark.parametrize("path", ["/status", "/refused", "/gzip", "/unknown"])
def test_answers_are_the_same(server: ScriptedServer, path: str) -> None:
    httpx_way, gevent_way = both(lambda c: _seen(c.get(path)), server.url)
    assert httpx_way == gevent_way
    assert isinstance(httpx_way, tuple)


def test_the_request_on_the_wire_is_the_same(server: ScriptedServer) -> None:
    def post(client: httpx.Client) -> object:
        answer = client.post(
            "/echo?a=1&b=%20",
            data={"key": "uploads/x", "policy": "p"},
            files={"file": ("photo", b"\xff\xd8jpeg bytes", "image/jpeg")},
            headers={"Authorization": "Bearer t"},
        )
        echoed = answer.json()
        echoed["headers"] = sorted(echoed["headers"])
        # The multipart boundary is random per request: compare the body without it.
        boundary = answer.request.headers["Content-Type"].split("boundary=")[1]
        echoed["body"] = bytes.fromhex(echoed["body"]).replace(boundary.encode(), b"B")
        echoed["headers"] = [h.replace(boundary, "B") for h in echoed["headers"]]
        return answer.status_code, answer.headers.get_list("X-Multi"), echoed

    httpx_way, gevent_way = both(post, server.url)
    assert httpx_way == gevent_way
    assert httpx_way[1] == ["a", "b"]  # type: ignore[index]


def test_a_chunked_stream_is_read_line_by_line_alike(server: ScriptedServer) -> None:
    def stream(client: httpx.Client) -> object:
        with client.stream("GET", "/chunked") as answer:
            return list(answer.iter_lines())

    httpx_way, gevent_way = both(stream, server.url)
    assert httpx_way == gevent_way
    assert 'data: {"status": "done"}' in httpx_way  # type: ignore[operator]


def test_a_connection_the_server_closed_while_idle_is_not_reused(server: ScriptedServer) -> None:
    def twice(client: httpx.Client) -> object:
        first = client.get("/close-after").status_code
        time.sleep(0.3)  # the server has closed it by now
        return first, client.get("/status").status_code

    assert both(twice, server.url) == [(200, 200), (200, 200)]


def test_keep_alive_reuses_one_connection(server: ScriptedServer) -> None:
    with httpx.Client(base_url=server.url, transport=GeventTransport()) as client:
        for _ in range(5):
            assert client.get("/status").status_code == 200
    assert server.connections == 1


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/no-answer", httpx.RemoteProtocolError),
        ("/truncated", httpx.RemoteProtocolError),
        ("/garbage", httpx.RemoteProtocolError),
        ("/reset", httpx.ReadError),
    ],
)
def test_broken_answers_raise_the_same_error(
    server: ScriptedServer, path: str, error: type[Exception]
) -> None:
    assert both(lambda c: c.get(path).content, server.url) == [error, error]


def test_a_slow_answer_times_out_alike(server: ScriptedServer) -> None:
    outcomes = both(lambda c: c.get("/slow").status_code, server.url, timeout=0.2)
    assert outcomes == [httpx.ReadTimeout, httpx.ReadTimeout]


def test_no_server_is_a_connect_error_alike() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    outcomes = both(lambda c: c.get("/status").status_code, f"http://127.0.0.1:{port}")
    assert outcomes == [httpx.ConnectError, httpx.ConnectError]


def test_the_app_client_takes_the_transport_and_keeps_its_errors(server: ScriptedServer) -> None:
    with WasteClient(server.url, transport=GeventTransport) as client:
        client.http.headers["Authorization"] = "Bearer t"
        with pytest.raises(FlowError) as refused:
            client.start()  # /api/v1/waste/analyze: the server does not know it (404)
        assert (refused.value.status_code, refused.value.code) == (404, "not_found")
        assert isinstance(client.http._transport, GeventTransport)
        assert isinstance(client.uploads._transport, GeventTransport)
