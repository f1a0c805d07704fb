"""An httpx transport that sits between the server and a real provider and fails chosen requests.

Faults are exact and repeatable: each rule names which request numbers (1-based, counted per
transport) it hits and what happens to them instead of the real answer. The faults behave as httpx
does against a misbehaving peer: a refused connection is a real connection to a closed port, a reset
mid-body raises httpx.ReadError after some real bytes, a drip yields the real body a few bytes at a
time, and an edited answer is the real provider's answer with one thing wrong in it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from semsearch.embeddings import PROBE_TEXT

Action = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
Edit = Callable[[dict[str, Any]], None]


def status(
    code: int, headers: dict[str, str] | None = None, body: bytes = b'{"error": "injected"}'
) -> Action:
    return lambda request: httpx.Response(code, headers=headers, content=body, request=request)


def raise_(exc: type[httpx.TransportError]) -> Action:
    def act(request: httpx.Request) -> httpx.Response:
        raise exc("injected fault", request=request)

    return act


# -- which request is which ---------------------------------------------------------------------
def inputs_of(request: httpx.Request) -> list[str]:
    texts: list[str] = json.loads(request.content)["input"]
    return texts


def is_probe(request: httpx.Request) -> bool:
    """The watcher's probe: the probe text alone (as a document or as a query)."""
    return inputs_of(request) == [PROBE_TEXT]


def is_build_batch(request: httpx.Request) -> bool:
    """A rebuild's batch: documents, with the probe text riding along as the last input."""
    return json.loads(request.content).get("input_type") == "document" and not is_probe(request)


def is_query(request: httpx.Request) -> bool:
    """A search's query embedding (the probe rides along with it too)."""
    return json.loads(request.content).get("input_type") == "query" and not is_probe(request)


# -- faults that need a real connection or the real answer --------------------------------------
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused() -> Action:
    """Send the request to a closed port: the connection is really refused (httpx.ConnectError)."""
    port = closed_port()

    async def act(request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncHTTPTransport() as transport:
            moved = httpx.Request(
                request.method,
                request.url.copy_with(host="127.0.0.1", port=port),
                headers=request.headers,
                content=request.content,
                extensions=request.extensions,
            )
            return await transport.handle_async_request(moved)

    return act


async def _real_answer(
    inner: httpx.AsyncBaseTransport, request: httpx.Request
) -> tuple[httpx.Response, bytes]:
    response = await inner.handle_async_request(request)
    body = await response.aread()
    await response.aclose()
    return response, body


def _answer(
    response: httpx.Response, request: httpx.Request, stream: httpx.AsyncByteStream
) -> httpx.Response:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return httpx.Response(response.status_code, headers=headers, stream=stream, request=request)


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks():
            yield chunk


def reset_mid_body(inner: httpx.AsyncBaseTransport, after: int = 64) -> Action:
    """The real answer's status, headers and first ``after`` bytes, then the peer resets."""

    async def act(request: httpx.Request) -> httpx.Response:
        response, body = await _real_answer(inner, request)

        async def chunks() -> AsyncIterator[bytes]:
            yield body[:after]
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)

        return _answer(response, request, _Chunks(chunks))

    return act


def drip(inner: httpx.AsyncBaseTransport, size: int = 8, gap: float = 0.1) -> Action:
    """The real answer, ``size`` bytes every ``gap`` seconds: each read returns soon enough for a
    per-read timeout, so only a deadline on the whole answer ends it."""

    async def act(request: httpx.Request) -> httpx.Response:
        response, body = await _real_answer(inner, request)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), size):
                yield body[start : start + size]
                await asyncio.sleep(gap)

        return _answer(response, request, _Chunks(chunks))

    return act


def truncated(inner: httpx.AsyncBaseTransport) -> Action:
    """The real answer cut in half, with a 200 and a matching length: malformed JSON."""

    async def act(request: httpx.Request) -> httpx.Response:
        _, body = await _real_answer(inner, request)
        return httpx.Response(
            200, headers={"content-type": "application/json"}, content=body[: len(body) // 2], request=request
        )

    return act


def edited(inner: httpx.AsyncBaseTransport, edit: Edit) -> Action:
    """The real answer with ``edit`` applied to its JSON body (NaN and inf written as bare tokens)."""

    async def act(request: httpx.Request) -> httpx.Response:
        response, body = await _real_answer(inner, request)
        answer = json.loads(body)
        edit(answer)
        content = json.dumps(answer).encode()
        return httpx.Response(
            response.status_code,
            headers={"content-type": "application/json"},
            content=content,
            request=request,
        )

    return act


@dataclass
class Stall:
    """A provider that accepted the request and never answers. ``entered`` is set when a request
    is held; ``cancelled`` once the caller gave up on one (the held request saw CancelledError)."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return httpx.Response(503, content=b'{"error": "stalled"}', request=request)


def first_attempts(action: Action) -> Callable[[httpx.Request], Action | None]:
    """A ``when`` chooser: ``action`` on the first attempt of each request, the real answer on its
    retry (a retry sends the very same body), so only retries can save the call."""
    seen: set[bytes] = set()

    def choose(request: httpx.Request) -> Action | None:
        if request.content in seen:
            return None
        seen.add(request.content)
        return action

    return choose


@dataclass
class FaultTransport(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    rules: dict[int, Action] = field(default_factory=dict)  # request number -> action
    every: Action | None = None  # applied to every request when set (a provider that is down)
    when: Callable[[httpx.Request], Action | None] | None = None  # chooses by content (e.g. one index)
    count: int = 0
    bodies: list[bytes] = field(default_factory=list)
    faulted: list[httpx.Request] = field(default_factory=list)  # requests an action answered
    _seen: asyncio.Condition | None = field(default=None, init=False, repr=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.bodies.append(request.content)
        action = self.rules.get(self.count) or (self.when(request) if self.when else None) or self.every
        if action is None:
            return await self.inner.handle_async_request(request)
        self.faulted.append(request)
        await self._notify()
        result = action(request)
        return await result if inspect.isawaitable(result) else result

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def until_faulted(
        self, condition: Callable[[list[httpx.Request]], bool], timeout: float = 30
    ) -> None:
        """Wait until ``condition(faulted requests)`` holds, re-checked at every faulted request."""
        if self._seen is None:
            self._seen = asyncio.Condition()
        async with asyncio.timeout(timeout), self._seen:
            await self._seen.wait_for(lambda: condition(self.faulted))

    async def _notify(self) -> None:
        if self._seen is not None:
            async with self._seen:
                self._seen.notify_all()
