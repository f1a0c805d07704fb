"""A watch stream the server cancels (gRPC cancels the calls that reach a stopping server) is
resubscribed, not ended: the client cancelled nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from semsearch_client import AsyncSemsearchClient, Backoff


class CancelsFirst(admin_pb2_grpc.AdminServiceServicer):
    """WatchIndexes: the first call is cancelled by the server, later ones send a snapshot."""

    def __init__(self) -> None:
        self.calls = 0

    async def WatchIndexes(
        self, request: admin_pb2.WatchIndexesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[admin_pb2.WatchIndexesResponse]:
        self.calls += 1
        if self.calls == 1:
            await context.abort(grpc.StatusCode.CANCELLED, "the server is stopping")
        snapshot = admin_pb2.IndexSnapshot(indexes=[types_pb2.Index(name="ix")])
        yield admin_pb2.WatchIndexesResponse(sequence=1, snapshot=snapshot)
        await asyncio.Event().wait()  # a stream stays open until the client goes


async def test_a_stream_the_server_cancels_is_resubscribed() -> None:
    server = grpc.aio.server()
    servicer = CancelsFirst()
    admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncSemsearchClient(f"127.0.0.1:{port}") as client:
            updates = client.watch_indexes(backoff=Backoff(initial=0.01, maximum=0.05))
            async with asyncio.timeout(30):
                first = await anext(aiter(updates))
            assert [ix.name for ix in first.message.snapshot.indexes] == ["ix"]
            assert first.subscription == 1 and servicer.calls == 2
            await updates.aclose()
    finally:
        await server.stop(None)
