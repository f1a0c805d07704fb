"""A TCP relay in front of a server that can cut every connection through it, as a network would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class CuttingRelay:
    """Forwards 127.0.0.1:<port> to the server; ``cut()`` breaks every connection at once, and while
    ``refusing`` a new connection is closed as soon as it is accepted."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.target = ""  # host:port of the relay, set once it listens
        self.refusing = False
        self.accepted = 0
        self._transports: set[asyncio.WriteTransport] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    def cut(self) -> None:
        for transport in list(self._transports):
            transport.abort()  # a reset, not a goodbye: the client sees the connection drop
        self._transports.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self._transports.update(pair)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, pair))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.WriteTransport, asyncio.WriteTransport],
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        for transport in pair:  # one side gone: the other goes too
            transport.abort()
            self._transports.discard(transport)

    async def close(self) -> None:
        self.cut()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)


@contextlib.asynccontextmanager
async def cutting_relay(upstream_port: int) -> AsyncIterator[CuttingRelay]:
    relay = CuttingRelay(upstream_port)
    server = await asyncio.start_server(relay._accept, "127.0.0.1", 0)
    relay.target = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield relay
    finally:
        server.close()
        await relay.close()
        await server.wait_closed()
