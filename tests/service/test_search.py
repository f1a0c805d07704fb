"""Search over a real server and the real provider, checked against an oracle that recomputes scores.

The hash model is deterministic, so every returned score can be recomputed here as the dot product
of the query's and the chunk's vectors in the space the response names.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.corpus import Chunk
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.proxy.hashing import hash_embed
from semsearch.search.query import MAX_QUERY_CHARS, MAX_TOP_K
from tests.support.corpora import fixture_chunks
from tests.support.server import Service
from tests.support.status import failure

CHUNKS = fixture_chunks()


def oracle(query: str, hit: search_pb2.SearchHit, model: str) -> float:
    vectors = hash_embed([query, CHUNKS[(hit.index, hit.chunk_id)].text], model)
    return float(vectors[0] @ vectors[1])


def multi_chunk_document(index: str) -> Chunk:
    counts: dict[str, int] = {}
    for (name, _), chunk in CHUNKS.items():
        if name == index:
            counts[chunk.document_id] = counts.get(chunk.document_id, 0) + 1
    doc = max(counts, key=lambda d: counts[d])
    assert counts[doc] > 1, f"fixture index {index} needs a document with several chunks"
    return next(c for (name, _), c in CHUNKS.items() if name == index and c.document_id == doc)


async def test_every_index_is_searched_and_scores_match_the_oracle(service: Service) -> None:
    query = "restart the validator client when attestations stop"
    response = await service.search.Search(search_pb2.SearchRequest(query=query, top_k=20, all_chunks=True))
    assert response.query_space.model == "hash-v1"
    assert response.query_space.dimensions == 384
    assert len(response.query_space.fingerprint_digest) == 12  # the space named, its vectors left out
    assert not response.query_space.fingerprint and not response.query_space.query_fingerprint
    assert not response.unavailable_indexes
    assert {hit.index for hit in response.hits} == {"runbooks", "eips", "specs", "examples"}
    scores = [hit.score for hit in response.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in response.hits:  # hybrid by default: the cosine is the hit's dense score
        assert hit.dense_score == pytest.approx(oracle(query, hit, "hash-v1"), abs=1e-4)
        chunk = CHUNKS[(hit.index, hit.chunk_id)]
        assert (hit.document_id, hit.title, hit.source) == (chunk.document_id, chunk.title, chunk.source)
        assert dict(hit.metadata) == dict(chunk.metadata)
        assert hit.snippet and len(hit.snippet) <= 250


@pytest.mark.parametrize("index", ["runbooks", "eips", "specs", "examples"])
async def test_a_chunks_own_text_finds_its_document_first(service: Service, index: str) -> None:
    target = (
        multi_chunk_document(index)
        if index != "examples"
        else next(c for (name, _), c in CHUNKS.items() if name == index)
    )
    response = await service.search.Search(
        search_pb2.SearchRequest(query=target.text[:MAX_QUERY_CHARS], indexes=[index])
    )
    assert response.hits[0].document_id == target.document_id
    assert response.hits[0].dense_score == pytest.approx(1.0, abs=1e-3)


async def test_collapse_returns_one_hit_per_document_unless_all_chunks(service: Service) -> None:
    target = multi_chunk_document("eips")
    request = search_pb2.SearchRequest(query=target.text, indexes=["eips"], top_k=50)
    collapsed = await service.search.Search(request)
    documents = [hit.document_id for hit in collapsed.hits]
    assert len(documents) == len(set(documents))
    request.all_chunks = True
    expanded = await service.search.Search(request)
    assert sum(hit.document_id == target.document_id for hit in expanded.hits) > 1
    assert len(expanded.hits) > len(collapsed.hits)


async def test_top_k_defaults_to_ten_and_is_honoured(service: Service) -> None:
    default = await service.search.Search(search_pb2.SearchRequest(query="block", all_chunks=True))
    assert len(default.hits) == min(10, len(CHUNKS))
    three = await service.search.Search(search_pb2.SearchRequest(query="block", top_k=3))
    assert len(three.hits) == 3


async def test_filter_keeps_only_matching_metadata(service: Service) -> None:
    key, value = next(
        (k, v) for (name, _), c in CHUNKS.items() if name == "runbooks" for k, v in c.metadata.items() if v
    )
    request = search_pb2.SearchRequest(
        query="how do I fix it", indexes=["runbooks"], top_k=50, all_chunks=True, filter={key: value}
    )
    response = await service.search.Search(request)
    expected = {
        c.id for (name, _), c in CHUNKS.items() if name == "runbooks" and c.metadata.get(key) == value
    }
    assert response.hits
    assert {hit.chunk_id for hit in response.hits} >= expected & {hit.chunk_id for hit in response.hits}
    assert all(hit.metadata[key] == value or value in hit.metadata[key].split(", ") for hit in response.hits)
    nothing = await service.search.Search(
        search_pb2.SearchRequest(query="how do I fix it", filter={key: "no-such-value-anywhere"})
    )
    assert list(nothing.hits) == []


async def test_min_score_drops_weaker_hits_and_keeps_the_rest(service: Service) -> None:
    query = "fee market for blob transactions"
    everything = await service.search.Search(
        search_pb2.SearchRequest(query=query, top_k=MAX_TOP_K, all_chunks=True)
    )
    # min_score compares the cosine: the hit's dense score, whatever the mode ranks by.
    threshold = float(np.median([hit.dense_score for hit in everything.hits]))
    above = await service.search.Search(
        search_pb2.SearchRequest(query=query, top_k=MAX_TOP_K, all_chunks=True, min_score=threshold)
    )
    assert all(hit.dense_score >= threshold for hit in above.hits)
    assert len(above.hits) == sum(hit.dense_score >= threshold for hit in everything.hits)


@pytest.mark.parametrize(
    ("request_fields", "code", "reason"),
    [
        ({"query": "q", "indexes": ["no-such-index"]}, grpc.StatusCode.NOT_FOUND, "INDEX_NOT_FOUND"),
        ({"query": "q", "indexes": ["eips", "no-such-index"]}, grpc.StatusCode.NOT_FOUND, "INDEX_NOT_FOUND"),
        ({"query": ""}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
        ({"query": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
        ({"query": "q", "top_k": MAX_TOP_K + 1}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TOP_K"),
        ({"query": "q", "top_k": -1}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TOP_K"),
        ({"query": "q", "min_score": float("nan")}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MIN_SCORE"),
        ({"query": "q", "filter": {"": "x"}}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FILTER"),
    ],
)
async def test_bad_requests_get_a_status_and_an_error_info_reason(
    service: Service, request_fields: dict[str, object], code: grpc.StatusCode, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(**request_fields))  # type: ignore[arg-type]
    got = failure(caught.value)
    assert got.code == code
    assert got.error_info is not None
    assert (got.error_info.reason, got.error_info.domain) == (reason, "semsearch.v1")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert got.bad_request is not None and got.bad_request.field_violations[0].field
    # Bad input changes nothing: the service still answers.
    assert (await service.search.Search(search_pb2.SearchRequest(query="ok"))).hits


async def test_the_query_space_is_named_by_the_digests_of_the_built_space(service: Service) -> None:
    response = await service.search.Search(search_pb2.SearchRequest(query="attestation duties", top_k=3))
    spaces = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    built = spaces.built_space
    assert len(built.fingerprint) == len(built.query_fingerprint) == 384  # asked for: the vectors
    named = response.query_space
    assert (named.model, named.dimensions) == (built.model, built.dimensions)
    assert named.fingerprint_digest == built.fingerprint_digest == fingerprint_digest(built.fingerprint)
    assert named.query_fingerprint_digest == fingerprint_digest(built.query_fingerprint)
    assert response.ByteSize() < 384 * 4  # top 3 hits and a space: less than one vector of floats
