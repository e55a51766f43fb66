"""A TCP proxy in front of one server the run owns, with Toxiproxy's ``latency`` and
``reset_peer`` toxics switched on and off at run time.

The stack's services and workers reach the server through the proxy; the harness's own
collectors go straight to the server, so a fault on the connection is the reference's to bear.
The proxy binds port 0 and reports the port it got. It runs an asyncio loop on its own thread::

    with TcpProxy("127.0.0.1", 5432, name="postgres") as proxy:
        proxy.port        # where clients connect
        proxy.latency(0.2)  # every chunk from the server waits 200 ms
        proxy.reset()       # every connection reset (RST), new ones too, until clear()
        proxy.clear()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Self

from harness.stack.waits import wait_for

_CHUNK = 65536


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, name: str = "proxy") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.name = name
        self.port = 0
        self.connections = 0  # accepted since start, for tests and the report
        self._delay = 0.0
        self._resetting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{name}", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        wait_for(lambda: self.port or None, timeout=10, describe=f"{self.name} proxy listening")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- toxics ------------------------------------------------------------------------------
    def latency(self, seconds: float) -> None:
        """Delay every chunk the server sends back by ``seconds`` (0: none)."""
        self._delay = max(0.0, seconds)

    def reset(self) -> None:
        """Reset every open connection with a TCP RST, and every new one, until :meth:`clear`."""
        self._resetting = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._reset_all)

    def clear(self) -> None:
        """Back to a plain proxy."""
        self._delay = 0.0
        self._resetting = False

    # -- the loop ----------------------------------------------------------------------------
    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, reuse_address=True)
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _shutdown(self) -> None:
        assert self._loop is not None
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._loop.stop()

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            _rst(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._resetting:
            _rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _rst(writer)  # the server is down: the client sees a refused-like reset
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, delayed=False),
                self._pipe(up_reader, writer, delayed=True),
            )
        finally:
            self._writers -= {writer, up_writer}
            for end in (writer, up_writer):
                with contextlib.suppress(Exception):
                    end.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        try:
            while data := await source.read(_CHUNK):
                if delayed and self._delay:
                    await asyncio.sleep(self._delay)
                if self._resetting:
                    _rst(sink)
                    return
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, as Toxiproxy's ``reset_peer`` sends."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
