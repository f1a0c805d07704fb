"""Hostile gRPC input that is not a request at all: garbage bodies sent straight to the methods.

Undecodable bodies are the one case the server never sees: grpc's own deserializer rejects them
before any handler runs, with UNKNOWN and the message "Unexpected <class
'google.protobuf.message.DecodeError'>: Error parsing message with type '…'" — no stack trace.
The server is in tests/support/hostile.py.
"""

from __future__ import annotations

import grpc
from google.protobuf import message as protobuf_message
from hypothesis import given
from hypothesis import strategies as st

from semsearch.api.v1 import admin_pb2, search_pb2
from tests.support.hostile import CALL_TIMEOUT, REJECTED, Clients, examples

METHODS = {
    "/semsearch.v1.SearchService/Search": search_pb2.SearchRequest,
    "/semsearch.v1.AdminService/GetIndex": admin_pb2.GetIndexRequest,
    "/semsearch.v1.AdminService/ListIndexes": admin_pb2.ListIndexesRequest,
    "/semsearch.v1.AdminService/GetEmbeddingSpace": admin_pb2.GetEmbeddingSpaceRequest,
}


@examples(60)
@given(method=st.sampled_from(sorted(METHODS)), body=st.binary(max_size=512))
def test_garbage_bytes_are_refused_without_a_trace(clients: Clients, method: str, body: bytes) -> None:
    """Bytes that do not decode are refused by grpc itself (UNKNOWN, a one-line message); bytes that
    happen to decode are a request like any other and follow the rules."""
    call = clients.channel.unary_unary(method)  # no serializers: the body goes out as given
    try:
        METHODS[method].FromString(body)
        decodes = True
    except protobuf_message.DecodeError:
        decodes = False
    try:
        call(body, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        code, details = error.code(), error.details() or ""
        clients.outcomes[f"garbage {code.name}"] += 1
        assert "Traceback" not in details and 'File "' not in details
        if decodes:
            assert code in REJECTED, (code, details)
        else:
            assert code is grpc.StatusCode.UNKNOWN and "DecodeError" in details, (code, details)
        return
    clients.outcomes["garbage OK"] += 1
    assert decodes, "an undecodable body was answered"
