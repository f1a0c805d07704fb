"""Search modes over gRPC: hybrid by default, identifier pinning, and lexical answers while parked.

Lexical hits are checked against a BM25 index built here from the fixture chunks, dense scores
against the hash model (tests/support/oracle.py): a degraded answer must be words only, and a
hybrid answer after a model switch must be scored in the new space only.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.index.lexical import LexicalIndex, shared_idf
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from semsearch.search.ranking import DEFAULT_FUSION
from tests.support.corpora import FIXTURE_CORPORA, FIXTURE_INDEXES, fixture_chunks
from tests.support.faults import FaultTransport, status
from tests.support.oracle import assert_scored_in
from tests.support.server import Service, fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_for

DENSE, LEXICAL, HYBRID = (
    search_pb2.SEARCH_MODE_DENSE,
    search_pb2.SEARCH_MODE_LEXICAL,
    search_pb2.SEARCH_MODE_HYBRID,
)
READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)
NAMES = [ix["name"] for ix in FIXTURE_INDEXES]

EIP_4844 = """---
eip: 4844
title: Shard Blob Transactions
status: Final
type: Standards Track
category: Core
created: 2022-02-25
---

## Abstract

A new transaction type carries large blobs of data that the execution layer cannot read; only a
commitment to each blob is visible to contracts, and the blobs are pruned after some weeks.
"""

EIP_1559 = """---
eip: 1559
title: Fee market change for ETH 1.0 chain
status: Final
type: Standards Track
category: Core
created: 2019-04-13
---

## Abstract

A base fee per gas, burned, that rises and falls with how full the blocks are, and a priority fee
that goes to the block producer.
"""


def lexical_ranking(query: str, indexes: list[str], top_k: int = 10) -> list[tuple[str, str]]:
    """(index, chunk id) of the best chunk per document by BM25, every index merged by score, the
    query terms weighed by their idf over all the indexes searched."""
    lexical = {
        ix["name"]: LexicalIndex(
            [c for (name, _), c in fixture_chunks().items() if name == ix["name"]], ix["kind"]
        )
        for ix in FIXTURE_INDEXES
        if ix["name"] in indexes
    }
    shared = shared_idf(list(lexical.values()), query)
    merged = []
    for name, index in lexical.items():
        merged += [(-h.score, name, h.chunk.id) for h in index.search(query, top_k, shared=shared)]
    return [(name, chunk_id) for _, name, chunk_id in sorted(merged)[:top_k]]


class BuildGate(httpx.AsyncBaseTransport):
    """Holds every build batch (documents embedded with the probe) while closed, so a rebuild stays
    REBUILDING exactly as long as a test needs; queries and lone probes pass."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.open = asyncio.Event()
        self.open.set()
        self.held = asyncio.Event()  # a build batch is waiting at the gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if body.get("input_type") == "document" and len(body.get("input", [])) > 1:
            if not self.open.is_set():
                self.held.set()
            await self.open.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_hybrid_is_the_default_and_every_hit_says_which_signals_found_it(service: Service) -> None:
    query = "blob base fee for rollups posting in bursts"
    # top_k 100: the fixture indexes are small enough that every candidate of both signals is a hit,
    # so each signal's scaling (its best and worst candidate) can be seen from here.
    response = await service.search.Search(search_pb2.SearchRequest(query=query, top_k=100))
    assert response.mode == HYBRID and not response.degraded and not response.degraded_indexes
    assert response.query_space.model == "hash-v1"
    assert response.hits and {hit.index for hit in response.hits} <= set(NAMES)
    dense = {hit.dense_rank: hit.dense_score for hit in response.hits if hit.dense_rank}
    lexical = {hit.lexical_rank: hit.lexical_score for hit in response.hits if hit.lexical_rank}
    assert sorted(dense) == list(range(1, len(dense) + 1)) and len(lexical) > 1
    assert sorted(lexical) == list(range(1, len(lexical) + 1))
    # The contract's size prior, from what ListIndexes says of each index: cosine less
    # 0.008 x ln(chunk_count), then scaled like any signal.
    listed = await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())
    chunks = {ix.name: ix.chunk_count for ix in listed.indexes}
    assert len({chunks[hit.index] for hit in response.hits}) > 1  # the prior tells the indexes apart
    sized = {
        hit.dense_rank: hit.dense_score - DEFAULT_FUSION.size_prior * math.log(chunks[hit.index])
        for hit in response.hits
        if hit.dense_rank
    }

    def scaled(scores: dict[int, float], rank: int) -> float:
        if not rank:
            return 0.0
        return (scores[rank] - min(scores.values())) / (max(scores.values()) - min(scores.values()))

    weight = DEFAULT_FUSION.dense_weight
    for rank, hit in enumerate(response.hits, 1):
        assert hit.HasField("dense_score"), hit.chunk_id  # every hit of a READY index has its cosine
        assert hit.dense_rank or hit.lexical_rank, hit.chunk_id
        fused = weight * scaled(sized, hit.dense_rank) + (1 - weight) * scaled(lexical, hit.lexical_rank)
        assert hit.score == pytest.approx(fused, abs=1e-6), rank
        assert hit.HasField("lexical_score") == bool(hit.lexical_rank)
    assert [h.score for h in response.hits] == sorted((h.score for h in response.hits), reverse=True)
    assert_scored_in(query, response)  # the dense score is the cosine in the named space
    # Ranks count documents: the hit shows dense's best chunk, the rank is its document's best by words.
    expected = [(index, chunk_id.partition("#")[0]) for index, chunk_id in lexical_ranking(query, NAMES, 50)]
    for hit in response.hits:
        if hit.lexical_rank:
            assert expected[hit.lexical_rank - 1] == (hit.index, hit.document_id)


async def test_the_vector_and_lexical_index_of_each_index_share_one_chunk_tuple(
    service: Service, hash_proxy: ProxyProcess
) -> None:
    # Built side by side from the same sources, they number the chunks alike (hybrid scores join
    # on that); a model switch rebuilds the vectors and keeps the words, still on the same tuple.
    manager = service.app.manager

    def shared() -> bool:
        return all(
            s.index is not None and s.lexical is not None and s.lexical.chunks is s.index.chunks
            for s in manager.slots.values()
        )

    assert shared()
    words = {name: slot.lexical for name, slot in manager.slots.items()}
    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: the model changed")
    await wait_for(manager, lambda: all(s.generation == 2 for s in manager.statuses()))
    await asyncio.wait_for(service.app.watcher.settled.wait(), 30)
    assert shared()
    assert all(slot.lexical is words[name] for name, slot in manager.slots.items())  # not rebuilt


async def test_each_mode_ranks_by_its_own_signal(service: Service) -> None:
    query = "SPONSOR opcode paymaster"
    dense = await service.search.Search(search_pb2.SearchRequest(query=query, mode=DENSE))
    assert dense.mode == DENSE
    assert all(h.score == h.dense_score and h.dense_rank == n for n, h in enumerate(dense.hits, 1))
    assert not any(h.lexical_rank or h.pinned for h in dense.hits)
    assert_scored_in(query, dense)
    words = await service.search.Search(search_pb2.SearchRequest(query=query, mode=LEXICAL))
    assert words.mode == LEXICAL and not words.degraded
    assert not words.HasField("query_space")  # nothing was embedded
    assert [(h.index, h.chunk_id) for h in words.hits] == lexical_ranking(query, NAMES)
    assert all(h.score == h.lexical_score and not h.HasField("dense_score") for h in words.hits)
    assert words.hits[0].document_id == "eip-9902"


async def test_eip_numbers_with_or_without_prefix_pin_the_eip_first(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    eips = tmp_path / "eips"
    shutil.copytree(FIXTURE_CORPORA / "eip", eips)
    (eips / "eip-4844.md").write_text(EIP_4844)
    (eips / "eip-1559.md").write_text(EIP_1559)
    indexes = [{**ix, "path": str(eips)} if ix["name"] == "eips" else ix for ix in FIXTURE_INDEXES]
    service: Service = await make_service(fixture_config(hash_proxy.url, indexes=indexes))
    named = {query: "eip-4844" for query in ("EIP-4844", "eip 4844", "4844", "EIP-4844 blob transactions")}
    for query, eip in {**named, "eip 1559": "eip-1559"}.items():
        for mode in (search_pb2.SEARCH_MODE_UNSPECIFIED, LEXICAL):
            response = await service.search.Search(search_pb2.SearchRequest(query=query, mode=mode))
            first = response.hits[0]
            assert (first.index, first.document_id, first.pinned) == ("eips", eip, True), query
            assert not any(h.pinned for h in response.hits[1:]), query
    # A number in a sentence is a quantity, not a name; DENSE never pins.
    sentence = await service.search.Search(
        search_pb2.SearchRequest(query="what happens to the fee when 4844 blobs are posted at once")
    )
    assert not any(h.pinned for h in sentence.hits)
    dense = await service.search.Search(search_pb2.SearchRequest(query="EIP-4844", mode=DENSE))
    assert not any(h.pinned for h in dense.hits)
    # A pinned document still obeys the filter.
    filtered = await service.search.Search(
        search_pb2.SearchRequest(query="EIP-4844", filter={"status": "Draft"})
    )
    assert all(h.document_id != "eip-4844" for h in filtered.hits)


async def test_a_runbook_and_an_example_named_in_the_query_come_first(service: Service) -> None:
    runbook = await service.search.Search(search_pb2.SearchRequest(query="database disk full"))
    assert (runbook.hits[0].document_id, runbook.hits[0].pinned) == ("database-disk-full", True)
    example = await service.search.Search(
        search_pb2.SearchRequest(query="disk usage percent", indexes=["examples"], all_chunks=True)
    )
    assert [(h.document_id, h.pinned) for h in example.hits[:2]] == [
        ("prometheus/disk-usage-percent", True),
        ("prometheus/disk-usage-percent-2", True),
    ]


async def test_pinning_is_configured_per_index(hash_proxy: ProxyProcess, make_service: Any) -> None:
    indexes = [{**ix, "pin_identifiers": False} if ix["name"] == "runbooks" else ix for ix in FIXTURE_INDEXES]
    service: Service = await make_service(fixture_config(hash_proxy.url, indexes=indexes))
    runbook = await service.search.Search(search_pb2.SearchRequest(query="database disk full"))
    assert not any(h.pinned for h in runbook.hits)
    example = await service.search.Search(search_pb2.SearchRequest(query="disk usage percent"))
    assert example.hits[0].pinned and example.hits[0].index == "examples"


async def test_during_a_model_switch_degraded_requests_get_lexical_answers_and_others_unavailable(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    gate = BuildGate()
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=gate)
    manager = service.app.manager
    gate.open.clear()
    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: model switched")
    await asyncio.wait_for(gate.held.wait(), 30)  # a rebuild waits at the gate
    assert all(s.state in {PARKED, REBUILDING} for s in await _states(service))
    query = "blob base fee"

    for indexes in ([], ["eips"]):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await service.search.Search(search_pb2.SearchRequest(query=query, indexes=indexes))
        got = failure(caught.value)
        assert got.code == grpc.StatusCode.UNAVAILABLE
        assert got.error_info is not None and got.error_info.reason == "INDEX_NOT_READY"
        assert got.retry_info is not None

    for mode in (search_pb2.SEARCH_MODE_UNSPECIFIED, DENSE, HYBRID):
        response = await service.search.Search(
            search_pb2.SearchRequest(query=query, mode=mode, allow_degraded=True)
        )
        assert response.degraded and response.mode == LEXICAL
        assert [d.index for d in response.degraded_indexes] == NAMES
        assert all(
            d.reason == "INDEX_NOT_READY" and d.state in {PARKED, REBUILDING}
            for d in response.degraded_indexes
        )
        assert not response.unavailable_indexes and not response.HasField("query_space")
        assert [(h.index, h.chunk_id) for h in response.hits] == lexical_ranking(query, NAMES)
        assert not any(h.HasField("dense_score") or h.dense_rank for h in response.hits)

    gate.open.set()
    await wait_for(manager, manager.all_ready, timeout=60)
    await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
    after = await service.search.Search(search_pb2.SearchRequest(query=query, allow_degraded=True))
    assert after.mode == HYBRID and not after.degraded
    assert after.query_space.model == "hash-v2"
    assert_scored_in(query, after, model="hash-v2")  # every dense score in the new space only


async def test_a_query_embedded_in_a_new_space_never_gets_stale_dense_scores(
    hash_proxy: ProxyProcess, service: Service
) -> None:
    # The poll interval is ten minutes: the indexes still sit READY in hash-v1 when the query,
    # embedded by hash-v2, arrives. Dense search is refused; words answer, and the watcher wakes.
    await hash_proxy.switch_model("hash-v2")
    response = await service.search.Search(
        search_pb2.SearchRequest(query="validator", indexes=["runbooks", "eips"], allow_degraded=True)
    )
    assert response.degraded and response.mode == LEXICAL
    assert {(d.index, d.reason) for d in response.degraded_indexes} == {
        ("runbooks", "EMBEDDING_SPACE_CHANGED"),
        ("eips", "EMBEDDING_SPACE_CHANGED"),
    }
    assert not any(h.HasField("dense_score") for h in response.hits)
    manager = service.app.manager
    await wait_for(manager, lambda: manager.all_ready() and manager.status("eips").generation == 2)


async def test_a_provider_outage_degrades_only_requests_that_allow_it(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    service: Service = await make_service(fixture_config(hash_proxy.url, max_retries=0), transport=faults)
    faults.every = status(503)
    query = "restart the validator"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query=query))
    got = failure(caught.value)
    assert got.error_info is not None and got.error_info.reason == "EMBEDDING_PROVIDER_UNAVAILABLE"
    response = await service.search.Search(search_pb2.SearchRequest(query=query, allow_degraded=True))
    assert response.mode == LEXICAL and response.degraded
    assert {d.reason for d in response.degraded_indexes} == {"EMBEDDING_PROVIDER_UNAVAILABLE"}
    assert [(h.index, h.chunk_id) for h in response.hits] == lexical_ranking(query, NAMES)
    calls = faults.count
    words = await service.search.Search(search_pb2.SearchRequest(query=query, mode=LEXICAL))
    assert faults.count == calls  # lexical search never calls the provider
    assert not words.degraded and [(h.index, h.chunk_id) for h in words.hits] == lexical_ranking(query, NAMES)


async def _states(service: Service) -> list[types_pb2.Index]:
    from semsearch.api.v1 import admin_pb2

    return list((await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes)


@pytest.mark.slow
async def test_hybrid_finds_both_an_exact_term_and_a_paraphrase_with_e5(make_service: Any) -> None:
    async with start_proxy(model="e5-small", startup_timeout=120) as proxy:
        service: Service = await make_service(fixture_config(proxy.url, model="e5-small"))

        async def first_three(query: str, mode: int) -> list[search_pb2.SearchHit]:
            request = search_pb2.SearchRequest(query=query, top_k=3, mode=mode)
            return list((await service.search.Search(request)).hits)

        # An opcode number: meaning alone does not rank its EIP among the first three; words do.
        exact = "0xf9"
        assert "eip-9902" not in [h.document_id for h in await first_three(exact, DENSE)]
        hybrid = await first_three(exact, HYBRID)
        assert (hybrid[0].document_id, hybrid[0].lexical_rank) == ("eip-9902", 1)
        # Different words for the blob fee EIP's subject: meaning ranks it first, words do not.
        paraphrase = "fees jump when many layer two networks publish at the same moment"
        assert (await first_three(paraphrase, LEXICAL))[0].document_id != "eip-9901"
        hybrid = await first_three(paraphrase, HYBRID)
        assert (hybrid[0].document_id, hybrid[0].dense_rank) == ("eip-9901", 1)
        for query in (exact, paraphrase):
            response = await service.search.Search(search_pb2.SearchRequest(query=query, top_k=3))
            assert_scored_in(query, response, tolerance=2e-3)  # e5 through the proxy: float32 noise
