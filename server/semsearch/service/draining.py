"""Draining before a stop: new calls are turned away with a retryable status until callers stop coming.

Why not just ``server.stop(grace)``: when grpc core starts shutting down it cancels (CANCELLED) every
call it has received but not yet handed to the application, and every call that reaches an open
connection before the client has seen the GOAWAY. Under load that is always a few calls, and a
CANCELLED call looks dropped to its client. So, once health says NOT_SERVING, semsearch calls are
answered UNAVAILABLE + ErrorInfo ``SERVER_SHUTTING_DOWN`` + RetryInfo by the application itself —
calls already running carry on — and the listener closes only when no call has arrived for a
moment (a tenth of the grace period, at most a second), or once half of it is spent. Health and
reflection keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from semsearch.errors import Unavailable
from semsearch.logs import event
from semsearch.service.errors import to_status

log = logging.getLogger(__name__)

GATED_PREFIX = "/semsearch.v1."  # Search and Admin; grpc.health and reflection stay open
MAX_QUIET_SECONDS = 1.0  # no call for this long: the callers have gone away
RETRY_AFTER_SECONDS = 1.0

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class ServerShuttingDown(Unavailable):
    reason = "SERVER_SHUTTING_DOWN"


class DrainGate(grpc.aio.ServerInterceptor):
    """Sees every call; while draining, turns semsearch calls away before they reach a servicer."""

    def __init__(self) -> None:
        self.draining = False
        self.turned_away = 0
        self._last_call = 0.0  # monotonic time of the latest semsearch call
        self._arrived = asyncio.Event()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(GATED_PREFIX):
            return handler
        self._last_call = time.monotonic()
        if not self.draining or handler.request_streaming:
            return handler
        self.turned_away += 1
        self._arrived.set()
        return _refusal(handler)

    async def drain(self, grace: float) -> float:
        """Turn new calls away until none has arrived for a while, within half of ``grace``;
        return the seconds it took (an idle server does not wait at all)."""
        self.draining = True
        quiet = min(MAX_QUIET_SECONDS, grace / 10)
        started = time.monotonic()
        deadline = started + grace / 2
        quiet_until = self._last_call + quiet
        while (now := time.monotonic()) < min(quiet_until, deadline):
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(quiet_until, deadline) - now)
            except TimeoutError:
                break
            quiet_until = self._last_call + quiet
        seconds = time.monotonic() - started
        event(log, "server_drained", turned_away=self.turned_away, seconds=round(seconds, 3))
        return seconds


def _refusal(
    handler: grpc.RpcMethodHandler[_Request, _Response],
) -> grpc.RpcMethodHandler[_Request, _Response]:
    """A handler of the same shape that answers SERVER_SHUTTING_DOWN without running the method."""
    status = to_status(
        ServerShuttingDown(
            "the server is shutting down; retry on another instance or once it is back",
            retry_after=RETRY_AFTER_SECONDS,
        )
    )

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort_with_status(status)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        await context.abort_with_status(status)
        yield  # pragma: no cover - never reached; makes this a stream handler

    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            refuse_stream, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )
