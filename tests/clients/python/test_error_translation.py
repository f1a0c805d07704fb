"""Failed calls → exception classes and fields, from the status and trailers a server sends."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from semsearch_client import (
    DeadlineExceededError,
    EmbeddingSpaceChangedError,
    IndexNotReadyError,
    IndexUnavailableError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ProviderUnavailableError,
    SemsearchError,
    UnavailableError,
    UnreachableError,
)
from semsearch_client.errors import error_from_call, error_from_rpc


def packed(message: Message) -> any_pb2.Any:
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped


def failed(
    code: grpc.StatusCode, message: str, *details: Message, status_code: int | None = None
) -> grpc.aio.AioRpcError:
    """A failed call as grpc.aio reports it, details in the grpc-status-details-bin trailer."""
    trailers = grpc.aio.Metadata()
    if details:
        status = status_pb2.Status(
            code=code.value[0] if status_code is None else status_code,
            message=message,
            details=[packed(d) for d in details],
        )
        trailers.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details=message)


def info(reason: str, domain: str = "semsearch.v1", **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata)


def retry(seconds: int, nanos: int = 0) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds, nanos=nanos))


UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("call", "cls"),
    [
        (failed(UNAVAILABLE, "x", info("INDEX_NOT_READY"), retry(1)), IndexNotReadyError),
        (failed(UNAVAILABLE, "x", info("EMBEDDING_SPACE_CHANGED"), retry(2)), EmbeddingSpaceChangedError),
        (
            failed(UNAVAILABLE, "x", info("EMBEDDING_PROVIDER_UNAVAILABLE"), retry(1)),
            ProviderUnavailableError,
        ),
        # A reason this client does not know yet (a newer server): still semsearch's UNAVAILABLE.
        (failed(UNAVAILABLE, "x", info("SOMETHING_NEW"), retry(1)), UnavailableError),
        (failed(UNAVAILABLE, "failed to connect to all addresses"), UnreachableError),
        # Somebody else's ErrorInfo (a proxy in front): not semsearch refusing.
        (failed(UNAVAILABLE, "upstream gone", info("UPSTREAM", domain="proxy.example")), UnreachableError),
        (failed(grpc.StatusCode.NOT_FOUND, "x", info("INDEX_NOT_FOUND", index="nope")), NotFoundError),
        (failed(grpc.StatusCode.INVALID_ARGUMENT, "x", info("INVALID_TOP_K")), InvalidArgumentError),
        (failed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), DeadlineExceededError),
        (failed(grpc.StatusCode.INTERNAL, "x", info("INTERNAL_ERROR")), InternalError),
        (failed(grpc.StatusCode.UNIMPLEMENTED, "Method not found!"), SemsearchError),
    ],
)
def test_each_failure_gets_its_class(call: grpc.aio.AioRpcError, cls: type[SemsearchError]) -> None:
    assert type(error_from_call(call)) is cls


def test_every_detail_is_read() -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(field="top_k", description="at most 100")
    call = failed(
        grpc.StatusCode.INVALID_ARGUMENT,
        "top_k must be at most 100",
        info("INVALID_TOP_K", field="top_k", limit="100"),
        error_details_pb2.BadRequest(field_violations=[violation]),
    )
    error = error_from_call(call)
    assert (error.code, error.message, error.reason, error.domain) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "top_k must be at most 100",
        "INVALID_TOP_K",
        "semsearch.v1",
    )
    assert dict(error.metadata) == {"field": "top_k", "limit": "100"}
    assert [(v.field, v.description) for v in error.field_violations] == [("top_k", "at most 100")]
    assert error.retry_delay is None and not error.retryable
    assert str(error) == "INVALID_ARGUMENT [INVALID_TOP_K]: top_k must be at most 100"


def test_the_retry_delay_keeps_its_fraction() -> None:
    error = error_from_call(failed(UNAVAILABLE, "x", info("INDEX_NOT_READY"), retry(1, 500_000_000)))
    assert isinstance(error, IndexUnavailableError) and error.retryable
    assert error.retry_delay == 1.5


def test_details_that_contradict_the_status_line_are_ignored() -> None:
    # rpc_status refuses a Status whose code differs from the call's; the status line wins.
    call = failed(UNAVAILABLE, "x", info("INDEX_NOT_READY"), status_code=code_pb2.NOT_FOUND)
    error = error_from_call(call)
    assert type(error) is UnreachableError and error.reason == ""


def test_an_rpc_error_that_is_not_a_call_is_unknown() -> None:
    error = error_from_rpc(grpc.RpcError("no status at all"))
    assert (type(error), error.code) == (SemsearchError, grpc.StatusCode.UNKNOWN)


def test_errors_are_read_only_where_it_matters() -> None:
    error = error_from_call(failed(grpc.StatusCode.NOT_FOUND, "x", info("INDEX_NOT_FOUND", index="nope")))
    with pytest.raises(TypeError):
        error.metadata["index"] = "other"  # type: ignore[index]
