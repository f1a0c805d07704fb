"""An HTTP relay between a server process and its embedding provider that keeps every text it forwards.

A server running in its own process cannot be handed a test transport; pointing its
``[embeddings] url`` at this relay shows exactly which texts reached the provider, whatever else
(space probes, request batching) travels with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Relay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removesuffix("/v1")
        self.url = ""  # its own OpenAI base URL, set once it listens
        self.texts: list[str] = []  # every input of every embeddings request, in arrival order
        self._client = httpx.AsyncClient(timeout=120)

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        with contextlib.suppress(ValueError):
            payload = json.loads(body)
            inputs = payload.get("input") if isinstance(payload, dict) else None
            if isinstance(inputs, str):
                self.texts.append(inputs)
            elif isinstance(inputs, list):
                self.texts.extend(t for t in inputs if isinstance(t, str))
        answer = await self._client.request(
            request.method,
            self.upstream + request.url.path,
            content=body,
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))


@contextlib.asynccontextmanager
async def relay_to(upstream: str) -> AsyncIterator[Relay]:
    """A relay on an ephemeral loopback port, forwarding to the provider at ``upstream``."""
    relay = Relay(upstream)
    app = Starlette(routes=[Route("/{path:path}", relay.forward, methods=["GET", "POST"])])
    # Bound before serving: the address is known at once and early connections wait in the backlog.
    sock = socket.socket()
    # Inherited by accepted connections; without it each small request waits on a delayed ACK (~40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    relay.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield relay
    finally:
        server.should_exit = True
        await serving
        await relay._client.aclose()
        sock.close()
