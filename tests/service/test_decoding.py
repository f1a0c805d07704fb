"""service.decoding on a bare grpc.aio server: a servicer registered through either of grpc's two
registration paths (registered methods, as the generated code does today, or only a generic
handler, as older generated code did) decodes its own body, so bad bytes get the same answer.

The whole semsearch server against raw bytes is in test_hostile_bytes.py and test_hostile_limits.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.service.decoding import add_servicer
from tests.support.status import failure

METHOD = "/semsearch.v1.SearchService/Search"
LIMIT = 64  # bytes: small, so a request over it is cheap to send
OVER_THE_LIMIT = search_pb2.SearchRequest(query="q" * (LIMIT - 1)).SerializeToString()  # 65 bytes


class EchoSearch(search_pb2_grpc.SearchServiceServicer):
    """Answers with one hit whose title is the query it decoded."""

    async def Search(
        self, request: search_pb2.SearchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> search_pb2.SearchResponse:
        return search_pb2.SearchResponse(hits=[search_pb2.SearchHit(title=request.query)])


def generic_only(servicer: EchoSearch, server: grpc.aio.Server) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.Search,
        request_deserializer=search_pb2.SearchRequest.FromString,
        response_serializer=search_pb2.SearchResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("semsearch.v1.SearchService", {"Search": handler}),)
    )


REGISTRATIONS: dict[str, Callable[[EchoSearch, grpc.aio.Server], None]] = {
    "registered": search_pb2_grpc.add_SearchServiceServicer_to_server,
    "generic": generic_only,
}


@pytest.fixture(params=sorted(REGISTRATIONS))
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    add_servicer(server, REGISTRATIONS[request.param], EchoSearch(), limit=LIMIT)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
            yield opened
    finally:
        await server.stop(None)


async def send(channel: grpc.aio.Channel, body: bytes) -> Any:
    return await channel.unary_unary(METHOD)(body, timeout=10)


async def test_a_valid_body_reaches_the_method(channel: grpc.aio.Channel) -> None:
    body = search_pb2.SearchRequest(query="blob fee").SerializeToString()
    answer = search_pb2.SearchResponse.FromString(await send(channel, body))
    assert [hit.title for hit in answer.hits] == ["blob fee"]
    at_limit = search_pb2.SearchRequest(query="q" * (LIMIT - 2)).SerializeToString()
    assert len(at_limit) == LIMIT
    answer = search_pb2.SearchResponse.FromString(await send(channel, at_limit))
    assert [hit.title for hit in answer.hits] == ["q" * (LIMIT - 2)]


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b"\x0a\x05ab", grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
        (b"\x00\x01", grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
        (OVER_THE_LIMIT, grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"),
    ],
    ids=["truncated", "field_zero", "over_the_limit"],
)
async def test_a_bad_body_is_refused_with_a_reason(
    channel: grpc.aio.Channel, body: bytes, code: grpc.StatusCode, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await send(channel, body)
    got = failure(raised.value)
    assert got.code == code and got.error_info is not None
    assert (got.error_info.reason, got.error_info.metadata["method"]) == (reason, METHOD)
