"""Domain errors → gRPC status with google.rpc.ErrorInfo (and RetryInfo / BadRequest where they help).

Follows AIP-193: clients branch on ErrorInfo.reason, never on message text, and never see a trace.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from semsearch.errors import FailedPrecondition, IndexNotFound, InvalidArgument, SemsearchError, Unavailable
from semsearch.logs import event

log = logging.getLogger(__name__)

ERROR_DOMAIN = "semsearch.v1"
INTERNAL_REASON = "INTERNAL_ERROR"

# Echoes of client input are cut short: status messages travel in headers, and a client refuses
# headers past its limit (8-16 KiB), losing the real error.
MAX_MESSAGE_BYTES = 400
MAX_METADATA_BYTES = 128


class LimitReached(Unavailable):
    """A limit of this server is reached (RESOURCE_EXHAUSTED); a retry after ``retry_after`` may pass."""

    def __init__(self, reason: str, message: str, retry_after: float = 1.0, **metadata: str) -> None:
        super().__init__(message, retry_after, **metadata)
        self.reason = reason


_CODES: list[tuple[type[SemsearchError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (IndexNotFound, grpc.StatusCode.NOT_FOUND),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (LimitReached, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(error: SemsearchError) -> grpc.Status:
    code = next((c for cls, c in _CODES if isinstance(error, cls)), grpc.StatusCode.INTERNAL)
    metadata = {key: _bounded(value, MAX_METADATA_BYTES) for key, value in error.metadata.items()}
    message = _bounded(error.message, MAX_MESSAGE_BYTES)
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))
    ]
    if isinstance(error, Unavailable):
        seconds = max(error.retry_after, 0.0)
        delay = duration_pb2.Duration(seconds=int(seconds), nanos=int(math.modf(seconds)[0] * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if isinstance(error, InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return cast(grpc.Status, rpc_status.to_status(status))


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), marked when cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "…"


def refusal_status(code: grpc.StatusCode, reason: str, message: str, **metadata: str) -> grpc.Status:
    """A refusal that names no request field: the code, the message and an ErrorInfo, nothing else."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=[_pack(info)])
    return cast(grpc.Status, rpc_status.to_status(status))


def internal_status() -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=INTERNAL_REASON, domain=ERROR_DOMAIN)
    status = status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; see server logs", details=[_pack(info)]
    )
    return cast(grpc.Status, rpc_status.to_status(status))


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: SemsearchError) -> NoReturn:
    await context.abort_with_status(to_status(error))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Unary = Callable[[_Servicer, _Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[_Response]]
_Stream = Callable[[_Servicer, _Request, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[_Response]]


async def _fail(context: grpc.aio.ServicerContext[Any, Any], method: str, exc: Exception) -> NoReturn:
    if isinstance(exc, SemsearchError):
        event(log, "rpc_rejected", method=method, reason=exc.reason, error=exc.message)
        await context.abort_with_status(to_status(exc))
    event(log, "rpc_failed", level=logging.ERROR, exc_info=True, method=method, error=repr(exc))
    await context.abort_with_status(internal_status())
    raise AssertionError("abort_with_status returned")  # pragma: no cover


def unary_errors(
    method: _Unary[_Servicer, _Request, _Response],
) -> _Unary[_Servicer, _Request, _Response]:
    """Map raised domain errors to statuses; anything unexpected becomes INTERNAL + ErrorInfo, logged."""

    @functools.wraps(method)
    async def wrapper(
        self: _Servicer, request: _Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> _Response:
        try:
            return await method(self, request, context)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _fail(context, method.__name__, exc)

    return wrapper


def stream_errors(
    method: _Stream[_Servicer, _Request, _Response],
) -> _Stream[_Servicer, _Request, _Response]:
    """The same mapping for server-streaming methods."""

    @functools.wraps(method)
    async def wrapper(
        self: _Servicer, request: _Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[_Response]:
        try:
            async for item in method(self, request, context):
                yield item
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await _fail(context, method.__name__, exc)

    return wrapper
