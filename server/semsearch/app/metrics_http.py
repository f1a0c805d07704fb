"""The metrics endpoint: ``GET /metrics`` over plain HTTP/1.1 on a port of its own.

It runs on the application's event loop rather than in a thread, so a scrape reads the lifecycle
state on the loop that owns it, and stopping the app closes the port with nothing left running.
Every response closes its connection: a scrape is one request, and no connection outlives stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from semsearch.logs import event

log = logging.getLogger(__name__)

HEAD_LIMIT = 16 * 1024  # request line and headers; a scraper sends a few hundred bytes
READ_TIMEOUT_SECONDS = 10.0  # a client that stops mid-request does not hold a connection forever
METRICS_PATH = "/metrics"

Render = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)


class MetricsEndpoint:
    def __init__(self, render: Render) -> None:
        self._render = render
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0
        self.address = ""

    async def start(self, listen: str) -> None:
        """Bind ``host:port`` (port 0 picks a free one) and serve."""
        host, _, port = listen.rpartition(":")
        try:
            self._server = await asyncio.start_server(
                self._connection, host.strip("[]"), int(port), limit=HEAD_LIMIT
            )
        except OSError as exc:
            raise OSError(f"could not listen for metrics on {listen}: {exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        self.address = f"{host}:{self.port}"
        event(log, "metrics_server_started", address=self.address, path=METRICS_PATH)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        event(log, "metrics_server_stopped", address=self.address)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            status, headers, body = self._respond(head.decode("latin-1"))
            lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away or sent no complete request: nothing to answer
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, head: str) -> tuple[str, dict[str, str], bytes]:
        request_line, *header_lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _plain("400 Bad Request", "malformed request line\n")
        method, target, _ = parts
        if method not in {"GET", "HEAD"}:
            status, headers, body = _plain("405 Method Not Allowed", "only GET and HEAD\n")
            return status, {**headers, "Allow": "GET, HEAD"}, body
        if urlsplit(target).path != METRICS_PATH:
            return _plain("404 Not Found", f"metrics are served at {METRICS_PATH}\n")
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        try:
            body, content_type = self._render(fields.get("accept", ""))
        except Exception as exc:  # a collector bug must not take the server down: answer 500, log it
            event(log, "metrics_scrape_failed", level=logging.ERROR, exc_info=True, error=repr(exc))
            return _plain("500 Internal Server Error", "metrics could not be collected; see server logs\n")
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
        return "200 OK", headers, b"" if method == "HEAD" else body


def _plain(status: str, text: str) -> tuple[str, dict[str, str], bytes]:
    body = text.encode()
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    return status, headers, body


async def start_metrics_endpoint(render: Render, listen: str) -> MetricsEndpoint:
    endpoint = MetricsEndpoint(render)
    await endpoint.start(listen)
    return endpoint
