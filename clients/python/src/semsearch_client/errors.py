"""Failed calls as exceptions: the gRPC status code plus semsearch's google.rpc error details.

Branch on the class or on ``reason`` (the ErrorInfo reason), never on the message text. The tree::

    SemsearchError                  any failed call
    ├── InvalidArgumentError        INVALID_ARGUMENT: fix the named field, do not retry
    ├── NotFoundError               NOT_FOUND (INDEX_NOT_FOUND): fix the index name
    ├── UnauthenticatedError        UNAUTHENTICATED (TOKEN_REQUIRED): send the server's bearer token
    ├── PermissionDeniedError       PERMISSION_DENIED (TOKEN_INVALID): the token sent is not the server's
    ├── UnavailableError            UNAVAILABLE: retry with backoff
    │   ├── UnreachableError        no semsearch ErrorInfo: no server answered (transport failure)
    │   ├── IndexUnavailableError   the server refused: the indexes cannot serve yet (RetryInfo)
    │   │   ├── IndexNotReadyError          INDEX_NOT_READY
    │   │   └── EmbeddingSpaceChangedError  EMBEDDING_SPACE_CHANGED
    │   └── ProviderUnavailableError        EMBEDDING_PROVIDER_UNAVAILABLE
    ├── DeadlineExceededError       DEADLINE_EXCEEDED: the call's own deadline ran out
    └── InternalError               INTERNAL: a server bug, logged server-side
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "semsearch.v1"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One google.rpc.BadRequest violation: which request field, and what is wrong with it."""

    field: str
    description: str


class SemsearchError(Exception):
    """A failed call: status code, message and, when the server sent them, the error details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        #: google.rpc.ErrorInfo reason (e.g. "INDEX_NOT_READY"); "" when the failure carried none.
        self.reason = reason
        #: google.rpc.ErrorInfo domain; "semsearch.v1" for every error semsearch itself sends.
        self.domain = domain
        #: google.rpc.ErrorInfo metadata, such as "index", "state", "field" or "limit".
        self.metadata: Mapping[str, str] = MappingProxyType(dict(metadata or {}))
        #: google.rpc.RetryInfo delay in seconds: the earliest sensible retry; None when not sent.
        self.retry_delay = retry_delay
        #: google.rpc.BadRequest violations (INVALID_ARGUMENT names the field here).
        self.field_violations = field_violations

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (UNAVAILABLE, or our own deadline running out)."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r}, reason={self.reason!r})"


class InvalidArgumentError(SemsearchError):
    """The request breaks a limit; ``field_violations`` and ``metadata["field"]`` name the field."""


class NotFoundError(SemsearchError):
    """A named index does not exist; ``metadata["index"]`` holds the name."""


class UnauthenticatedError(SemsearchError):
    """The server needs a bearer token for this call and none came: give the client ``token=``."""


class PermissionDeniedError(SemsearchError):
    """The bearer token sent is not the server's; retrying with the same token will not help."""


class UnavailableError(SemsearchError):
    """The call could not be served now; retrying later may succeed."""


class UnreachableError(UnavailableError):
    """No semsearch server answered: nothing listens at the target, or the connection broke."""


class IndexUnavailableError(UnavailableError):
    """The server refused because the indexes asked for cannot serve yet; see ``retry_delay``."""


class IndexNotReadyError(IndexUnavailableError):
    """Every index asked for is PARKED or REBUILDING (``metadata["index"]``, ``metadata["state"]``)."""


class EmbeddingSpaceChangedError(IndexUnavailableError):
    """The provider now embeds in another space than the index; the server is rebuilding."""


class ProviderUnavailableError(UnavailableError):
    """The server could not embed the query: its embedding provider is down or timed out."""


class DeadlineExceededError(SemsearchError):
    """The call's deadline ran out before an answer arrived."""


class InternalError(SemsearchError):
    """An unexpected failure inside the server (a bug); the server log has the trace."""


_BY_REASON: dict[str, type[SemsearchError]] = {
    "INDEX_NOT_READY": IndexNotReadyError,
    "EMBEDDING_SPACE_CHANGED": EmbeddingSpaceChangedError,
    "EMBEDDING_PROVIDER_UNAVAILABLE": ProviderUnavailableError,
}
_BY_CODE: dict[grpc.StatusCode, type[SemsearchError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.INTERNAL: InternalError,
}


class FailedCall(Protocol):
    """What a failed call offers, sync (grpc.Call) or async (grpc.aio.AioRpcError)."""

    def code(self) -> grpc.StatusCode: ...
    def details(self) -> str | None: ...
    def trailing_metadata(self) -> Any: ...


def _rich_status(call: FailedCall) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(call)
    except ValueError:  # details inconsistent with the status line: trust the status line alone
        return None
    return status


def error_class(code: grpc.StatusCode, reason: str, domain: str) -> type[SemsearchError]:
    """The exception class for a status code and ErrorInfo (reason "" when there was none)."""
    if code is grpc.StatusCode.UNAVAILABLE:
        if domain != ERROR_DOMAIN:
            # Only semsearch's own refusals carry its ErrorInfo; anything else came from the transport.
            return UnreachableError
        if reason in _BY_REASON:
            return _BY_REASON[reason]
    return _BY_CODE.get(code, SemsearchError)


def error_from_call(call: FailedCall) -> SemsearchError:
    """Translate a failed call into the matching ``SemsearchError`` subclass."""
    code = call.code()
    message = call.details() or ""
    reason = domain = ""
    metadata: dict[str, str] = {}
    retry_delay: float | None = None
    violations: list[FieldViolation] = []
    status = _rich_status(call)
    for detail in status.details if status is not None else []:
        info, retry, bad = (
            error_details_pb2.ErrorInfo(),
            error_details_pb2.RetryInfo(),
            error_details_pb2.BadRequest(),
        )
        if detail.Unpack(info):
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Unpack(retry):
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
        elif detail.Unpack(bad):
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    cls = error_class(code, reason, domain)
    return cls(
        code,
        message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        retry_delay=retry_delay,
        field_violations=tuple(violations),
    )


def error_from_rpc(error: grpc.RpcError) -> SemsearchError:
    """Translate a raised ``grpc.RpcError`` (sync or asyncio)."""
    if isinstance(error, grpc.aio.AioRpcError | grpc.Call):
        return error_from_call(error)
    return SemsearchError(grpc.StatusCode.UNKNOWN, str(error))
