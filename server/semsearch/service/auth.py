"""Bearer-token authentication of semsearch calls, as a server interceptor.

With a token configured, the mutations (Reindex, MigrateModel, CancelMigration, and any semsearch
method not known to be a read) need ``authorization: Bearer <token>``; the reads (Search and the
Admin reads, WatchIndexes included) need it only with ``require_token_for_reads``. Health and
reflection always stay open: load balancers and grpcurl discovery work without a secret.

A call without a usable header is UNAUTHENTICATED (``TOKEN_REQUIRED``), one with another token
PERMISSION_DENIED (``TOKEN_INVALID``); both before the method runs. Tokens are compared as SHA-256
digests with ``hmac.compare_digest``, so the time taken says nothing about the token or its length,
and the presented value is never logged nor echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from semsearch.credentials import Secret
from semsearch.logs import event
from semsearch.service.errors import ERROR_DOMAIN

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/semsearch.v1."  # Search and Admin; grpc.health and reflection stay open
READ_METHODS = frozenset(
    {
        "/semsearch.v1.SearchService/Search",
        "/semsearch.v1.AdminService/ListIndexes",
        "/semsearch.v1.AdminService/GetIndex",
        "/semsearch.v1.AdminService/GetEmbeddingSpace",
        "/semsearch.v1.AdminService/WatchIndexes",
        "/semsearch.v1.AdminService/ListReplicas",
    }
)
TOKEN_REQUIRED = "TOKEN_REQUIRED"
TOKEN_INVALID = "TOKEN_INVALID"
_SCHEME = "bearer"  # RFC 6750: the scheme is case-insensitive

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    reason: str
    message: str


MISSING = Refusal(
    grpc.StatusCode.UNAUTHENTICATED,
    TOKEN_REQUIRED,
    "this call needs a bearer token: send the metadata 'authorization: Bearer <token>'",
)
MALFORMED = Refusal(
    grpc.StatusCode.UNAUTHENTICATED,
    TOKEN_REQUIRED,
    "the authorization metadata must be one 'Bearer <token>' value",
)
WRONG = Refusal(grpc.StatusCode.PERMISSION_DENIED, TOKEN_INVALID, "the bearer token is not valid")


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def is_protected(method: str, require_token_for_reads: bool) -> bool:
    """Whether ``method`` (``/package.Service/Method``) needs the token; unknown semsearch methods do."""
    if not method.startswith(PROTECTED_PREFIX):
        return False
    return require_token_for_reads or method not in READ_METHODS


class TokenGate(grpc.aio.ServerInterceptor):
    """Refuses protected calls that do not present the configured bearer token."""

    def __init__(self, token: Secret, require_token_for_reads: bool = False) -> None:
        self._expected = _digest(token.reveal())  # the token itself is not kept here
        self.require_token_for_reads = require_token_for_reads

    def check(self, metadata: Metadata | None) -> Refusal | None:
        """None when the metadata carries the token, else why the call is refused."""
        values = [value for key, value in metadata or () if key == "authorization"]
        if not values:
            return MISSING
        if len(values) > 1:
            return MALFORMED
        value = values[0]
        raw = value if isinstance(value, bytes) else value.encode("utf-8", errors="surrogateescape")
        scheme, _, presented = raw.strip().partition(b" ")
        presented = presented.strip()
        if scheme.lower() != _SCHEME.encode() or not presented:
            return MALFORMED
        return None if hmac.compare_digest(_digest(presented), self._expected) else WRONG

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        method = handler_call_details.method
        refusal = None
        if is_protected(method, self.require_token_for_reads):
            refusal = self.check(cast(Metadata, handler_call_details.invocation_metadata))
        handler = await continuation(handler_call_details)
        if handler is None or refusal is None:
            return handler
        return _refusing(handler, method, refusal)


def _status(method: str, refusal: Refusal) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(
        reason=refusal.reason, domain=ERROR_DOMAIN, metadata={"method": method}
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(
        code=getattr(code_pb2, refusal.code.name), message=refusal.message, details=[packed]
    )
    return cast(grpc.Status, rpc_status.to_status(status))


def _refusing(
    handler: grpc.RpcMethodHandler[_Request, _Response], method: str, refusal: Refusal
) -> grpc.RpcMethodHandler[_Request, _Response]:
    """A handler of the same shape that refuses without running the method, and logs who was refused."""
    status = _status(method, refusal)

    async def refuse(context: grpc.aio.ServicerContext[Any, Any]) -> None:
        event(
            log,
            "rpc_unauthenticated",
            level=logging.WARNING,
            method=method,
            reason=refusal.reason,
            code=refusal.code.name,
            peer=context.peer(),
        )
        await context.abort_with_status(status)

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await refuse(context)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        await refuse(context)
        yield  # pragma: no cover - never reached; makes this a stream handler

    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream, deserialize, serialize)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, deserialize, serialize)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream, deserialize, serialize)
    return grpc.unary_unary_rpc_method_handler(unary, deserialize, serialize)
