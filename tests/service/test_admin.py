"""AdminService over a real server: listing, single index, embedding space, and the watch stream."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, types_pb2
from semsearch.embeddings.digest import fingerprint_digest
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.server import Service
from tests.support.status import failure

READY = types_pb2.INDEX_STATE_READY


async def test_list_indexes_in_config_order_with_counts_and_space(service: Service) -> None:
    response = await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())
    assert [ix.name for ix in response.indexes] == [ix["name"] for ix in FIXTURE_INDEXES]
    for ix, declared in zip(response.indexes, FIXTURE_INDEXES, strict=True):
        assert ix.kind == declared["kind"]
        assert ix.state == READY
        assert ix.generation == 1
        assert ix.document_count > 0 and ix.chunk_count >= ix.document_count
        assert (ix.space.model, ix.space.dimensions) == ("hash-v1", 384)
        assert ix.state_since.seconds > 0
        assert not ix.last_error
        assert not ix.HasField("progress")


async def test_get_index_and_unknown_index(service: Service) -> None:
    got = await service.admin.GetIndex(admin_pb2.GetIndexRequest(name="eips"))
    assert got.index.name == "eips"
    space = got.index.space  # named by digests; the vectors only in GetEmbeddingSpace
    assert len(space.fingerprint_digest) == len(space.query_fingerprint_digest) == 12
    assert not space.fingerprint and not space.query_fingerprint
    assert got.ByteSize() < 384 * 4  # less than one vector of floats
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.admin.GetIndex(admin_pb2.GetIndexRequest(name="nope"))
    info = failure(caught.value)
    assert info.code == grpc.StatusCode.NOT_FOUND
    assert info.error_info is not None and info.error_info.reason == "INDEX_NOT_FOUND"
    assert info.error_info.metadata["index"] == "nope"


async def test_embedding_space_reports_provider_and_built_space(service: Service) -> None:
    response = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert response.provider_space.model == "hash-v1"
    assert list(response.built_space.fingerprint) == list(response.provider_space.fingerprint)
    for space in (response.provider_space, response.built_space):
        assert len(space.fingerprint) == len(space.query_fingerprint) == 384
        assert space.fingerprint_digest == fingerprint_digest(space.fingerprint)
        assert space.query_fingerprint_digest == fingerprint_digest(space.query_fingerprint)
    listed = await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())
    assert {ix.space.fingerprint_digest for ix in listed.indexes} == {response.built_space.fingerprint_digest}
    assert response.probed_at.seconds > 0


async def test_watch_starts_with_a_snapshot_and_numbers_messages(service: Service) -> None:
    stream = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(indexes=["eips", "specs"]))
    first = await asyncio.wait_for(stream.read(), 10)
    assert first.sequence == 1
    assert first.WhichOneof("payload") == "snapshot"
    assert [ix.name for ix in first.snapshot.indexes] == ["eips", "specs"]
    assert all(ix.state == READY for ix in first.snapshot.indexes)
    stream.cancel()


async def test_watch_of_an_unknown_index_is_not_found(service: Service) -> None:
    stream = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(indexes=["nope"]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert failure(caught.value).code == grpc.StatusCode.NOT_FOUND
