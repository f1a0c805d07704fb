"""Read google.rpc details out of a failed call."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class Failure:
    code: grpc.StatusCode
    message: str
    error_info: error_details_pb2.ErrorInfo | None
    retry_info: error_details_pb2.RetryInfo | None
    bad_request: error_details_pb2.BadRequest | None


def failure(error: grpc.aio.AioRpcError) -> Failure:
    status = rpc_status.from_call(error)
    found: dict[str, object] = {}
    for detail in status.details if status is not None else []:
        for name, cls in (
            ("info", error_details_pb2.ErrorInfo),
            ("retry", error_details_pb2.RetryInfo),
            ("bad", error_details_pb2.BadRequest),
        ):
            message = cls()
            if detail.Is(message.DESCRIPTOR) and detail.Unpack(message):
                found[name] = message
    return Failure(
        error.code(),
        error.details() or "",
        found.get("info"),
        found.get("retry"),
        found.get("bad"),  # type: ignore[arg-type]
    )
