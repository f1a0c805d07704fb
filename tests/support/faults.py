"""An httpx transport that sits between the server and a real provider and fails chosen requests.

Faults are exact and repeatable: each rule names which request numbers (1-based, counted per
transport) it hits and what happens to them instead of the real answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

Action = Callable[[httpx.Request], httpx.Response]


def status(
    code: int, headers: dict[str, str] | None = None, body: bytes = b'{"error": "injected"}'
) -> Action:
    return lambda request: httpx.Response(code, headers=headers, content=body, request=request)


def raise_(exc: type[httpx.TransportError]) -> Action:
    def act(request: httpx.Request) -> httpx.Response:
        raise exc("injected fault", request=request)

    return act


@dataclass
class FaultTransport(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    rules: dict[int, Action] = field(default_factory=dict)  # request number -> action
    every: Action | None = None  # applied to every request when set (a provider that is down)
    when: Callable[[httpx.Request], Action | None] | None = None  # chooses by content (e.g. one index)
    count: int = 0
    bodies: list[bytes] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.bodies.append(request.content)
        action = self.rules.get(self.count) or (self.when(request) if self.when else None) or self.every
        if action is not None:
            return action(request)
        return await self.inner.handle_async_request(request)
