"""Every call of both clients against a real server, compared with what the raw stubs return."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch_client import AsyncSemsearchClient, NotFoundError, SemsearchClient
from semsearch_client.messages import READY, fingerprint_digest, space_identity, state_name
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.server import Service
from tests.support.waiting import wait_for

QUERY = "restart the validator client when attestations stop"
# Each case: the client's keyword arguments, and the request the raw stub gets for the same search.
SEARCHES: list[tuple[dict[str, Any], search_pb2.SearchRequest]] = [
    ({}, search_pb2.SearchRequest(query=QUERY)),
    ({"indexes": "eips", "top_k": 3}, search_pb2.SearchRequest(query=QUERY, indexes=["eips"], top_k=3)),
    (
        {"indexes": ["runbooks", "specs"], "top_k": 50, "all_chunks": True},
        search_pb2.SearchRequest(query=QUERY, indexes=["runbooks", "specs"], top_k=50, all_chunks=True),
    ),
    ({"min_score": 0.05, "top_k": 100}, search_pb2.SearchRequest(query=QUERY, min_score=0.05, top_k=100)),
    (
        {"filter": {"tags": "validator"}, "top_k": 100},
        search_pb2.SearchRequest(query=QUERY, filter={"tags": "validator"}, top_k=100),
    ),
    ({"mode": "lexical"}, search_pb2.SearchRequest(query=QUERY, mode=search_pb2.SEARCH_MODE_LEXICAL)),
    (
        {"mode": "dense", "allow_degraded": True},
        search_pb2.SearchRequest(query=QUERY, mode=search_pb2.SEARCH_MODE_DENSE, allow_degraded=True),
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "raw"),
    SEARCHES,
    ids=["defaults", "one-index", "all-chunks", "min-score", "filter", "lexical", "dense-degraded"],
)
async def test_search_sends_what_the_raw_stub_sends(
    service: Service, client: AsyncSemsearchClient, kwargs: dict[str, Any], raw: search_pb2.SearchRequest
) -> None:
    got = await client.search(QUERY, **kwargs)
    expected = await service.search.Search(raw)
    assert got.hits, "a search that finds nothing cannot tell the arguments apart"
    assert got == expected
    if raw.mode != search_pb2.SEARCH_MODE_LEXICAL:  # words only: nothing embedded, no space
        assert got.query_space.model == "hash-v1"


async def test_the_arguments_change_the_answer(client: AsyncSemsearchClient) -> None:
    """The comparison above only means something if each argument changes the result."""
    everything = await client.search(QUERY, top_k=100, all_chunks=True)
    assert {hit.index for hit in (await client.search(QUERY, indexes="eips")).hits} == {"eips"}
    assert len((await client.search(QUERY, top_k=3)).hits) == 3
    assert (await client.search(QUERY, mode="lexical")).mode == search_pb2.SEARCH_MODE_LEXICAL
    above = await client.search(QUERY, top_k=100, all_chunks=True, min_score=0.05)
    assert 0 < len(above.hits) < len(everything.hits)
    assert all(hit.dense_score >= 0.05 for hit in above.hits)  # min_score compares the cosine
    tagged = await client.search(QUERY, top_k=100, filter={"tags": "validator"})
    assert tagged.hits and all("validator" in hit.metadata["tags"].split(",") for hit in tagged.hits)


async def test_admin_reads(service: Service, client: AsyncSemsearchClient) -> None:
    indexes = await client.list_indexes()
    assert [ix.name for ix in indexes] == [ix["name"] for ix in FIXTURE_INDEXES]
    assert [state_name(ix.state) for ix in indexes] == ["READY"] * len(FIXTURE_INDEXES)
    raw = await service.admin.GetIndex(admin_pb2.GetIndexRequest(name="eips"))
    assert await client.get_index("eips") == raw.index
    space = await client.get_embedding_space()
    assert space.built_space.model == space.provider_space.model == "hash-v1"
    assert space.probed_at.seconds > 0
    # An index names its space by digests; GetEmbeddingSpace alone carries the vectors they digest.
    named = (await client.get_index("eips")).space
    assert not named.fingerprint and len(space.built_space.fingerprint) == 384
    assert space_identity(named) == space_identity(space.built_space)
    assert named.fingerprint_digest == fingerprint_digest(space.built_space.fingerprint)


async def test_reindex_schedules_a_rebuild(service: Service, client: AsyncSemsearchClient) -> None:
    accepted = await client.reindex("eips", reason="client test")
    assert [(ix.name, ix.state) for ix in accepted] == [("eips", READY)]
    manager = service.app.manager
    await wait_for(manager, lambda: manager.status("eips").generation == 2)
    assert (await client.get_index("eips")).generation == 2
    assert (await client.get_index("specs")).generation == 1


async def test_the_blocking_client_makes_the_same_calls(service: Service, target: str) -> None:
    # The server runs on this test's event loop: blocking calls go to a thread so it can answer.
    def calls() -> tuple[Any, ...]:
        with SemsearchClient(target) as client:
            found = client.search(QUERY, indexes=["eips"], top_k=3)
            names = [ix.name for ix in client.list_indexes()]
            eips = client.get_index("eips")
            space = client.get_embedding_space()
            accepted = client.reindex(["specs"], reason="blocking client")
            with pytest.raises(NotFoundError) as caught:
                client.get_index("nope")
            return found, names, eips, space, accepted, caught.value

    found, names, eips, space, accepted, missing = await asyncio.to_thread(calls)
    expected = await service.search.Search(search_pb2.SearchRequest(query=QUERY, indexes=["eips"], top_k=3))
    assert found == expected
    assert names == [ix["name"] for ix in FIXTURE_INDEXES]
    assert eips.name == "eips" and space.built_space.model == "hash-v1"
    assert [ix.name for ix in accepted] == ["specs"]
    assert (missing.reason, missing.metadata["index"]) == ("INDEX_NOT_FOUND", "nope")
    manager = service.app.manager
    await wait_for(manager, lambda: manager.status("specs").generation == 2)


async def test_a_channel_passed_in_stays_open_after_close(target: str) -> None:
    channel = grpc.aio.insecure_channel(target)
    try:
        async with AsyncSemsearchClient(channel=channel) as client:
            assert (await client.get_index("eips")).name == "eips"
        # The client is closed; the caller's channel still works for another client.
        assert (await AsyncSemsearchClient(channel=channel).get_index("specs")).name == "specs"
    finally:
        await channel.close()


def test_a_client_needs_exactly_one_of_target_and_channel() -> None:
    with pytest.raises(ValueError, match="either a target or a channel"):
        SemsearchClient()
    channel = grpc.insecure_channel("127.0.0.1:1")
    with pytest.raises(ValueError, match="either a target or a channel"):
        SemsearchClient("127.0.0.1:1", channel=channel)
    channel.close()
