"""An httpx transport on gevent sockets and geventhttpclient's C response parser, for the
Locust workers: the app's calls stay :class:`httpx.Client` calls (one client API, the same
``Response`` and exceptions), only the bytes on the wire are handled by cheaper code than
httpcore and h11 (the last peak run's workers spent most of their CPU there).

What it keeps from httpx's own transport:
- every header httpx built goes out as built (``Host``, ``Content-Length``, auth, ...), and the
  answer's headers and body come back raw, so httpx still decodes ``Content-Encoding``;
- the request's timeouts (``connect``, ``write``, ``read``) and the error each failure raises:
  :class:`httpx.ConnectError` / :class:`httpx.ConnectTimeout` when no connection is made,
  :class:`httpx.WriteTimeout` / :class:`httpx.WriteError` while sending,
  :class:`httpx.ReadTimeout` / :class:`httpx.ReadError` while waiting or reading, and
  :class:`httpx.RemoteProtocolError` when the server closes without (a whole) answer or answers
  something that is not HTTP/1.1;
- keep-alive: an idle connection the server has closed (uvicorn closes after 5 s) is dropped
  before reuse, never sent on, as httpcore does.

Plain ``http`` only: ``https`` requests go to an inner :class:`httpx.HTTPTransport`. No
HTTP/2, no proxies. Under gevent-patched processes the sockets yield to other greenlets; in a
plain process they block like any socket.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import gevent.socket
import httpx
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse

Origin = tuple[str, int]
# Idle keep-alive connections kept per origin (one app user rarely has two requests at once).
_MAX_IDLE = 4
_BLOCK = 64 * 1024


class GeventTransport(httpx.BaseTransport):
    """An :class:`httpx.BaseTransport` for ``httpx.Client(transport=GeventTransport())``."""

    def __init__(self, *, max_idle: int = _MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._idle: dict[Origin, list[gevent.socket.socket]] = {}
        self._tls: httpx.HTTPTransport | None = None
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            if self._tls is None:
                self._tls = httpx.HTTPTransport()
            return self._tls.handle_request(request)
        timeouts = request.extensions.get("timeout", {})
        origin = (url.host, url.port or 80)
        payload = _head(request) + _body(request)
        sock = self._socket(origin, timeouts.get("connect"), request)
        try:
            sock.settimeout(timeouts.get("write"))
            sock.sendall(payload)
        except TimeoutError as exc:
            sock.close()
            raise httpx.WriteTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            sock.close()
            raise httpx.WriteError(str(exc), request=request) from exc
        sock.settimeout(timeouts.get("read"))
        pool = _Release(self, origin)
        try:
            answer = HTTPSocketPoolResponse(sock, pool, block_size=_BLOCK, method=request.method)
        except BaseException as exc:
            sock.close()
            raise _read_error(exc, request) from exc
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.items()]
        reason = (answer.status_message or "").encode("latin-1")
        return httpx.Response(
            answer.status_code,
            headers=headers,
            stream=_Body(answer, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def _socket(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> gevent.socket.socket:
        idle = self._idle.get(origin)
        while idle:
            sock = idle.pop()
            if _alive(sock):
                return sock
            sock.close()
        try:
            sock = gevent.socket.create_connection(origin, timeout=timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def keep(self, origin: Origin, sock: gevent.socket.socket) -> None:
        idle = self._idle.setdefault(origin, [])
        if self._closed or len(idle) >= self.max_idle:
            sock.close()
        else:
            idle.append(sock)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for sock in idle:
                sock.close()
        self._idle.clear()
        if self._tls is not None:
            self._tls.close()


class _Release:
    """What :class:`HTTPSocketPoolResponse` hands a connection back to once its answer ends."""

    def __init__(self, transport: GeventTransport, origin: Origin) -> None:
        self.transport = transport
        self.origin = origin

    def return_socket(self, sock: gevent.socket.socket) -> None:  # the answer ended cleanly
        self.transport.keep(self.origin, sock)

    def release_socket(self, sock: gevent.socket.socket) -> None:  # not reusable
        sock.close()


class _Body(httpx.SyncByteStream):
    def __init__(self, answer: HTTPSocketPoolResponse, request: httpx.Request) -> None:
        self.answer = answer
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        answer = self.answer
        while True:
            try:
                chunk = answer.read(_BLOCK)
            except BaseException as exc:
                raise _read_error(exc, self.request) from exc
            if not chunk:
                if not answer.message_complete and not _ends_at_close(answer):
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body",
                        request=self.request,
                    )
                return
            yield chunk

    def close(self) -> None:
        self.answer.release()  # an answer not read to its end closes its connection


def _head(request: httpx.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines += [b"%s: %s" % pair for pair in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _body(request: httpx.Request) -> bytes:
    content = request.read()
    if "transfer-encoding" in request.headers:  # a stream of unknown length: one chunk
        return (b"%x\r\n%s\r\n" % (len(content), content) if content else b"") + b"0\r\n\r\n"
    return content


def _alive(sock: gevent.socket.socket) -> bool:
    """An idle keep-alive connection that is readable was closed (or broken) by the server."""
    try:
        return sock.fileno() >= 0 and not select.select([sock], [], [], 0.0)[0]
    except (OSError, ValueError):
        return False


def _ends_at_close(answer: HTTPSocketPoolResponse) -> bool:
    """An answer without a length or chunking ends when the server closes (HTTP/1.1 allows)."""
    headers = {k.lower() for k, _ in answer.items()}
    return "content-length" not in headers and "transfer-encoding" not in headers


def _read_error(exc: BaseException, request: httpx.Request) -> BaseException:
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out", request=request)
    if isinstance(exc, HTTPConnectionClosed) and isinstance(exc.__context__, OSError):
        return httpx.ReadError(str(exc.__context__), request=request)  # reset, not closed
    if isinstance(exc, HTTPConnectionClosed):
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    if isinstance(exc, HTTPParseError):
        return httpx.RemoteProtocolError(str(exc), request=request)
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc), request=request)
    return exc
