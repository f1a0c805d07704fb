"""Hostile gRPC input that is not a request at all: bodies that do not decode, sent as raw bytes.

Every SearchService and AdminService method decodes its own body once the token gate let the call
in, so a body that is not a valid message (random bytes, truncated, an overlong varint, field number
0, bad UTF-8 in a string field) is INVALID_ARGUMENT with ErrorInfo MALFORMED_REQUEST: no parser text,
one ``rpc_rejected`` log line and no traceback, counted in ``semsearch_unreadable_requests_total``.
Where the token is required, a caller without it gets UNAUTHENTICATED, as for any other body.
The server is in tests/support/hostile.py; the size limit is in test_hostile_limits.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor, message_factory, unknown_fields
from google.protobuf import message as protobuf_message
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.config import Config, with_overrides
from semsearch.service.decoding import MAX_REQUEST_BYTES, RECEIVE_LIMIT_BYTES
from semsearch.service.errors import ERROR_DOMAIN
from tests.support.hostile import CALL_TIMEOUT, REJECTED, Clients, Metadata, examples, hostile_server
from tests.support.status import Failure, failure
from tests.support.tls import secured

TOKEN = "hostile-bytes-token-0123456789"
BEARER: Metadata = (("authorization", f"Bearer {TOKEN}"),)
SERVICES = (
    search_pb2.DESCRIPTOR.services_by_name["SearchService"],
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
)
METHODS: dict[str, descriptor.MethodDescriptor] = {
    f"/{service.full_name}/{method.name}": method for service in SERVICES for method in service.methods
}
MUTATIONS = {"Reindex", "MigrateModel", "CancelMigration"}
READS = sorted(m for m in METHODS if m.rpartition("/")[2] not in MUTATIONS)
MALFORMED = (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
# What a refusal must not carry: the parser's words, or a trace.
PARSER_TEXT = ("DecodeError", "Error parsing", "Wire format", "UTF-8", "Traceback", 'File "')


def request_class(method: str) -> type[protobuf_message.Message]:
    return message_factory.GetMessageClass(METHODS[method].input_type)


def string_field(method: str) -> int | None:
    """The number of the first string field of the method's request, None when it has none."""
    fields = METHODS[method].input_type.fields
    numbers = [f.number for f in fields if f.type == descriptor.FieldDescriptor.TYPE_STRING]
    return min(numbers) if numbers else None


def bad_utf8(method: str) -> bytes | None:
    number = string_field(method)
    return None if number is None else bytes([number << 3 | 2, 2]) + b"\xc3\x28"  # 0xC3 needs a follower


# Each kind of malformed body, for any request message (a field the message does not declare is
# parsed as an unknown field, so the wire format itself is at fault).
KINDS: dict[str, bytes] = {
    "random": bytes.fromhex("9c3b7e0df5a1c2e8ff13"),
    "truncated": b"\x0a\x05ab",  # field 1, length 5, two bytes follow
    "overlong_varint": b"\x18" + b"\xff" * 10 + b"\x01",  # field 3: a varint of 12 bytes
    "field_zero": b"\x00\x01",
    "field_zero_after_a_field": b"\x18\x05\x00\x01",
}
CASES = [(method, kind) for method in sorted(METHODS) for kind in sorted(KINDS)] + [
    (method, "bad_utf8") for method in sorted(METHODS) if string_field(method) is not None
]


def body_of(method: str, kind: str) -> bytes:
    body = bad_utf8(method) if kind == "bad_utf8" else KINDS[kind]
    assert body is not None
    return body


def decodes(method: str, body: bytes) -> bool:
    """Whether ``body`` is a valid request of ``method``, by the protobuf wire format."""
    try:
        request = request_class(method).FromString(body)
    except protobuf_message.DecodeError:
        return False
    unknown = unknown_fields.UnknownFieldSet(request)
    return all(unknown[i].field_number != 0 for i in range(len(unknown)))  # 0 is never a field


def send(clients: Clients, method: str, body: bytes, metadata: Metadata = ()) -> tuple[grpc.StatusCode, Any]:
    """Send ``body`` as is (no serializer) and return the code and the answer (or the Failure)."""
    try:
        if METHODS[method].server_streaming:
            stream = clients.channel.unary_stream(method)(body, timeout=CALL_TIMEOUT, metadata=metadata)
            try:
                answer = next(stream)
            finally:
                stream.cancel()
        else:
            answer = clients.channel.unary_unary(method)(body, timeout=CALL_TIMEOUT, metadata=metadata)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        details = error.details() or ""
        clients.outcomes[f"{method.rpartition('/')[2]} {error.code().name}"] += 1
        assert error.code() not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, details
        assert not any(text in details for text in PARSER_TEXT), details
        got = failure(error)  # type: ignore[arg-type]
        assert got.error_info is not None, f"{error.code().name} without ErrorInfo: {details}"
        assert got.error_info.domain == ERROR_DOMAIN, got
        return error.code(), got
    clients.outcomes[f"{method.rpartition('/')[2]} OK"] += 1
    return grpc.StatusCode.OK, answer


@contextlib.contextmanager
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Every record logged meanwhile, by any logger of any thread (the server's included)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def unreadable(clients: Clients, method: str) -> float:
    """``semsearch_unreadable_requests_total{kind="malformed"}`` of ``method``, scraped over HTTP."""
    assert clients.server.app is not None and clients.server.app.metrics_port is not None
    text = httpx.get(f"http://127.0.0.1:{clients.server.app.metrics_port}/metrics", timeout=10).text
    name = method.rpartition("/")[2]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "semsearch_unreadable_requests_total" and sample.labels == {
                "method": name,
                "kind": "malformed",
            }:
                return sample.value
    return 0.0


def with_metrics(config: Config) -> Config:
    return with_overrides(config, metrics__listen="127.0.0.1:0")


@pytest.fixture(scope="module")
def open_server() -> Iterator[Clients]:
    """No token: every call reaches its method."""
    with hostile_server("bytes, no token", with_metrics) as started:
        yield started


@pytest.fixture(scope="module")
def closed_server() -> Iterator[Clients]:
    """A token required for every semsearch call, reads included."""

    def configure(config: Config) -> Config:
        return with_metrics(secured(config, token=TOKEN, reads=True))

    with hostile_server("bytes, token for every call", configure, metadata=BEARER) as started:
        yield started


def assert_malformed(code: grpc.StatusCode, got: Failure, method: str) -> None:
    assert (code, got.error_info.reason) == MALFORMED, got
    assert got.error_info.metadata["method"] == method
    assert got.message == f"the request body is not a valid {METHODS[method].input_type.full_name} message"


def test_every_kind_of_body_is_malformed_by_the_wire_format() -> None:
    for method, kind in CASES:
        assert not decodes(method, body_of(method, kind)), (method, kind)


@pytest.mark.parametrize(("method", "kind"), CASES)
def test_a_malformed_body_is_invalid_argument_logged_once_and_counted(
    open_server: Clients, method: str, kind: str
) -> None:
    before = unreadable(open_server, method)
    with log_records() as records:
        code, got = send(open_server, method, body_of(method, kind))
    assert_malformed(code, got, method)
    rejected = [r for r in records if r.getMessage() == "rpc_rejected"]
    assert len(rejected) == 1, [r.getMessage() for r in records]
    fields = rejected[0].__dict__["semsearch_fields"]
    assert (fields["method"], fields["reason"]) == (method.rpartition("/")[2], "MALFORMED_REQUEST")
    assert not [r for r in records if r.exc_info or r.name.startswith("grpc")], records
    assert unreadable(open_server, method) == before + 1


@pytest.mark.parametrize(("method", "kind"), CASES)
def test_a_required_token_is_checked_before_the_body(closed_server: Clients, method: str, kind: str) -> None:
    body = body_of(method, kind)
    before = unreadable(closed_server, method)
    code, got = send(closed_server, method, body)
    assert (code, got.error_info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REQUIRED")
    wrong: Metadata = (("authorization", "Bearer not-the-token"),)
    code, got = send(closed_server, method, body, wrong)
    assert (code, got.error_info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "TOKEN_INVALID")
    assert unreadable(closed_server, method) == before  # refused for the token, never decoded
    code, got = send(closed_server, method, body, BEARER)
    assert_malformed(code, got, method)
    assert unreadable(closed_server, method) == before + 1


def test_the_size_limit_too_is_checked_after_the_token(closed_server: Clients) -> None:
    search = "/semsearch.v1.SearchService/Search"
    over = search_pb2.SearchRequest(query="x" * (MAX_REQUEST_BYTES + 1)).SerializeToString()
    code, got = send(closed_server, search, over)
    assert (code, got.error_info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REQUIRED")
    code, got = send(closed_server, search, over, BEARER)
    assert (code, got.error_info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE")
    # Past what grpc reads at all, grpc refuses by itself while receiving: before the token gate
    # could answer, and without ErrorInfo (documented in the errors guide).
    beyond = b"x" * (RECEIVE_LIMIT_BYTES + 1)
    with pytest.raises(grpc.RpcError) as raised:
        closed_server.channel.unary_unary(search)(beyond, timeout=CALL_TIMEOUT)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure(raised.value).error_info is None  # type: ignore[arg-type]


def test_a_draining_server_turns_a_malformed_body_away_before_decoding_it(open_server: Clients) -> None:
    assert open_server.server.app is not None
    gate = open_server.server.app.server.gate
    gate.draining = True  # what a SIGTERM does first
    try:
        for method in sorted(METHODS):
            code, got = send(open_server, method, KINDS["random"])
            assert (code, got.error_info.reason) == (grpc.StatusCode.UNAVAILABLE, "SERVER_SHUTTING_DOWN")
    finally:
        gate.draining = False


@examples(60)
@given(method=st.sampled_from(READS), body=st.binary(max_size=512))
def test_garbage_bytes_are_refused_as_malformed_or_answered_as_requests(
    open_server: Clients, method: str, body: bytes
) -> None:
    """Bytes that do not decode are MALFORMED_REQUEST; bytes that happen to decode are a request like
    any other and follow the rules. (Reads only: an empty body is a valid Reindex of every index.)"""
    code, got = send(open_server, method, body)
    if not decodes(method, body):
        assert_malformed(code, got, method)
    elif code is not grpc.StatusCode.OK:
        assert code in REJECTED and got.error_info.reason != "MALFORMED_REQUEST", got
