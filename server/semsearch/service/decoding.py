"""Request bodies decoded by semsearch itself, after authentication, so bad bytes get a documented answer.

grpc decodes a request with its handler's ``request_deserializer`` before any application code runs.
A body that does not parse then ends as UNKNOWN with the parser's text and a traceback in grpc's
log, and it does so even when the token gate refuses the call, since its refusal is a handler too.
So every SearchService and AdminService method is registered without a deserializer, receives the
raw bytes, and decodes them here, as its first step:

- over the documented limit (``MAX_REQUEST_BYTES``): RESOURCE_EXHAUSTED, reason ``REQUEST_TOO_LARGE``;
- not a valid message (random bytes, truncated, an overlong varint, field number 0, bad UTF-8 in a
  string field): INVALID_ARGUMENT, reason ``MALFORMED_REQUEST``, with no parser text;

each logged as one ``rpc_rejected`` line and counted (``Metrics.request_unreadable``). The token
gate and the drain gate refuse before a body is ever decoded. A body larger than the transport's
own limit (``RECEIVE_LIMIT_BYTES``) is refused by grpc core while it is received, before any of this:
RESOURCE_EXHAUSTED without ErrorInfo. That limit exists because grpc holds a whole message in
memory before the application sees it: unbounded, a caller could make the server hold any size.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeAlias, TypeVar, cast

import grpc
from google.protobuf import message as protobuf_message
from google.protobuf import unknown_fields

from semsearch.logs import event
from semsearch.observability import NO_METRICS, Metrics, UnreadableRequest
from semsearch.service.errors import refusal_status

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # the documented limit of a request (and of a response)
# What grpc core reads at most: a body between the two gets REQUEST_TOO_LARGE with ErrorInfo.
RECEIVE_LIMIT_BYTES = 2 * MAX_REQUEST_BYTES
MALFORMED_REQUEST = "MALFORMED_REQUEST"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"

_Servicer = TypeVar("_Servicer")
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in the type stubs
_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
_Parse = Callable[[bytes], Any]


def add_servicer(
    server: grpc.aio.Server,
    add_to_server: Callable[[_Servicer, grpc.aio.Server], None],
    servicer: _Servicer,
    metrics: Metrics = NO_METRICS,
    limit: int = MAX_REQUEST_BYTES,
) -> None:
    """Register ``servicer`` through its generated ``add_*_to_server``, every method decoding its own
    request body as described above."""
    registrar = _Registrar(server, RequestDecoder(metrics, limit))
    add_to_server(servicer, cast(grpc.aio.Server, registrar))  # it calls only the two methods below


class _Registrar:
    """Stands in for the server while generated code registers a servicer's method handlers, and
    hands each on to the server decoding its own body (one wrapped handler per method)."""

    def __init__(self, server: grpc.aio.Server, decoder: RequestDecoder) -> None:
        self._server = server
        self._decoder = decoder
        self._wrapped: dict[int, tuple[_Handler, _Handler]] = {}  # id(original) -> (original, wrapped)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers([_Generic(handler, self._wrap) for handler in handlers])

    def add_registered_method_handlers(self, service: str, handlers: dict[str, _Handler]) -> None:
        wrapped = {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)

    def _wrap(self, method: str, handler: _Handler) -> _Handler:
        known = self._wrapped.get(id(handler))
        if known is None or known[0] is not handler:
            known = self._wrapped[id(handler)] = (handler, self._decoder.wrap(method, handler))
        return known[1]


class _Generic(grpc.GenericRpcHandler):
    """A generated service's generic handler, answering with the decoding handlers."""

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Callable[[str, _Handler], _Handler]) -> None:
        self._inner = inner
        self._wrap = wrap

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> _Handler | None:
        handler = self._inner.service(handler_call_details)
        return None if handler is None else self._wrap(handler_call_details.method, handler)


class RequestDecoder:
    """Turns a method handler into one that receives raw bytes and decodes them itself."""

    def __init__(self, metrics: Metrics = NO_METRICS, limit: int = MAX_REQUEST_BYTES) -> None:
        self.metrics = metrics
        self.limit = limit

    def wrap(self, method: str, handler: _Handler) -> _Handler:
        """``handler`` for ``method`` (``/package.Service/Method``), decoding its body itself."""
        parse = handler.request_deserializer
        if handler.request_streaming or parse is None:
            return handler  # no semsearch method streams requests
        serialize = handler.response_serializer
        if handler.response_streaming:
            # The servicers are async: their methods are async generators and coroutines.
            stream = cast(Callable[[Any, _Context], AsyncIterator[Any]], handler.unary_stream)

            async def decoded_stream(body: bytes, context: _Context) -> AsyncIterator[Any]:
                request = await self.decode(method, body, parse, context)
                async for message in stream(request, context):
                    yield message

            return grpc.unary_stream_rpc_method_handler(decoded_stream, None, serialize)
        unary = cast(Callable[[Any, _Context], Awaitable[Any]], handler.unary_unary)

        async def decoded_unary(body: bytes, context: _Context) -> Any:
            return await unary(await self.decode(method, body, parse, context), context)

        return grpc.unary_unary_rpc_method_handler(decoded_unary, None, serialize)

    async def decode(self, method: str, body: bytes, parse: _Parse, context: _Context) -> Any:
        """The request in ``body``, or the call ends here with a documented status."""
        if len(body) > self.limit:
            await self._refuse(
                context,
                method,
                "too_large",
                refusal_status(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    REQUEST_TOO_LARGE,
                    f"the request is {len(body)} bytes; the most a request may have is {self.limit}",
                    method=method,
                    limit=str(self.limit),
                ),
                len(body),
            )
        try:
            request = parse(body)
        except Exception:  # the parser's only input is the caller's bytes: any failure is theirs
            request = None
        if request is None or _has_field_zero(request):
            await self._refuse(
                context,
                method,
                "malformed",
                refusal_status(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    MALFORMED_REQUEST,
                    f"the request body is not a valid {_message_name(parse)} message",
                    method=method,
                ),
                len(body),
            )
        return request

    async def _refuse(
        self, context: _Context, method: str, kind: UnreadableRequest, status: grpc.Status, size: int
    ) -> NoReturn:
        name = method.rpartition("/")[2]
        reason = MALFORMED_REQUEST if kind == "malformed" else REQUEST_TOO_LARGE
        event(
            log,
            "rpc_rejected",
            level=logging.WARNING,
            method=name,
            reason=reason,
            bytes=size,
            peer=context.peer(),
        )
        self.metrics.request_unreadable(name, kind)
        await context.abort_with_status(status)
        raise AssertionError("abort_with_status returned")  # pragma: no cover


def _has_field_zero(request: protobuf_message.Message) -> bool:
    """Field number 0 is invalid on the wire, but upb keeps it as an unknown field of a message
    that declares no fields (ListIndexesRequest, GetEmbeddingSpaceRequest) instead of failing."""
    unknown = unknown_fields.UnknownFieldSet(request)
    return any(unknown[i].field_number == 0 for i in range(len(unknown)))


def _message_name(parse: _Parse) -> str:
    """``semsearch.v1.SearchRequest`` for the generated ``SearchRequest.FromString``."""
    owner = getattr(parse, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))
