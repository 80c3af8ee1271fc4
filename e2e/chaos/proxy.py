"""A TCP proxy on 127.0.0.1 in front of one upstream port, run in the test's event loop, that injects
the network faults a client cannot tell from a slow server: `freeze()` stops the bytes of every
connection it carries in both directions while the sockets stay open (what a dead NAT entry or a
load balancer that lost its state leaves behind: no FIN, no RST, only silence), and `cut()` resets
every connection and turns new ones away until `resume()` (a partition between one client and a
server that others still reach). New connections after a freeze pass normally. `delay` holds every
chunk that long before passing it on (a slow server or link)."""

from __future__ import annotations

import asyncio
import contextlib


class _Connection:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)
        self.frozen = False

    def reset(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.accepted = 0
        self.delay = 0.0
        self._connections: set[_Connection] = set()
        self._refusing = False
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for connection in self._connections:
            connection.reset()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    def freeze(self) -> int:
        """Black-hole every open connection for good; returns how many were not frozen yet."""
        fresh = [c for c in self._connections if not c.frozen]
        for connection in fresh:
            connection.frozen = True
        return len(fresh)

    def cut(self) -> None:
        self._refusing = True
        for connection in list(self._connections):
            connection.reset()

    def resume(self) -> None:
        self._refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        connection = _Connection(writer, up_writer)
        self._connections.add(connection)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pump = asyncio.create_task(self._pump(connection, source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self, connection: _Connection, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        try:
            # A frozen connection still reads (to notice its peer closing) but forwards nothing.
            while data := await source.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if not connection.frozen:
                    sink.write(data)
                    await sink.drain()
        except OSError:
            pass
        finally:
            self._connections.discard(connection)
            for writer in connection.writers:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()
