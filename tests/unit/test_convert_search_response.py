"""SearchResponse conversion: hits built from per-chunk templates read exactly as built field by field."""

from __future__ import annotations

import numpy as np

from semsearch.api.v1 import search_pb2, types_pb2
from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingSpace
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.index import ScoredChunk
from semsearch.lifecycle import IndexState, IndexStatus
from semsearch.search.hits import Hit
from semsearch.search.searcher import SearchResult, UnavailableIndex
from semsearch.service import convert

SPACE = EmbeddingSpace("hash-v1", 3, (0.5, 0.5, 0.7), (0.1, 0.2, 0.3))


def chunk(n: int, body: str = "a  long\n\nbody   text") -> Chunk:
    return Chunk(f"doc#{n}", "doc", "Doc", f"Part {n}", f"Doc\n{body}", body, "doc.md", {"tags": "x, y"})


def expected_hit(index: str, c: Chunk, score: float) -> search_pb2.SearchHit:
    return search_pb2.SearchHit(
        index=index,
        document_id=c.document_id,
        chunk_id=c.id,
        title=c.title,
        section=c.section,
        snippet=convert.snippet(c.body),
        score=score,
        source=c.source,
        metadata=dict(c.metadata),
    )


def result(
    hits: list[tuple[str, Chunk, float]],
    unavailable: list[UnavailableIndex] | None = None,
    space: EmbeddingSpace = SPACE,
) -> SearchResult:
    return SearchResult([Hit(i, ScoredChunk(c, s)) for i, c, s in hits], space, unavailable or [])


def space_of(dimensions: int) -> EmbeddingSpace:
    rng = np.random.default_rng(dimensions)
    vectors = rng.normal(0, 1, (2, dimensions)) / np.sqrt(dimensions)
    return EmbeddingSpace("hash-v1", dimensions, tuple(vectors[0]), tuple(vectors[1]))


def test_every_field_of_every_hit_and_the_space() -> None:
    a, b = chunk(1), chunk(2, "x " * 400)
    gone = UnavailableIndex("other", IndexState.PARKED, "INDEX_NOT_READY", "index 'other' is PARKED")
    response = convert.search_response(result([("one", a, 0.75), ("two", b, 0.5)], [gone]))
    assert list(response.hits) == [expected_hit("one", a, 0.75), expected_hit("two", b, 0.5)]
    assert response.hits[1].snippet.endswith(" …")
    assert response.query_space == types_pb2.EmbeddingSpace(
        model="hash-v1",
        dimensions=3,
        fingerprint_digest=fingerprint_digest(SPACE.fingerprint),
        query_fingerprint_digest=fingerprint_digest(SPACE.query_fingerprint),
    )
    assert [(u.index, u.reason) for u in response.unavailable_indexes] == [("other", "INDEX_NOT_READY")]


def test_a_reused_template_carries_nothing_from_the_previous_response() -> None:
    a = chunk(3)
    first = convert.search_response(result([("one", a, 0.9)]))
    second = convert.search_response(result([("two", a, 0.1), ("two", a, 0.05)]))
    assert list(first.hits) == [expected_hit("one", a, 0.9)]
    assert list(second.hits) == [expected_hit("two", a, 0.1), expected_hit("two", a, 0.05)]


def test_a_rebuilt_chunk_with_the_same_id_gets_its_own_content() -> None:
    old, new = chunk(4, "before the edit"), chunk(4, "after the edit")
    assert convert.search_response(result([("one", old, 0.5)])).hits[0].snippet == "before the edit"
    assert convert.search_response(result([("one", new, 0.5)])).hits[0].snippet == "after the edit"


def test_responses_do_not_grow_with_the_dimensions_of_the_space() -> None:
    # Dimension counts of one varint length (2 bytes), so only the vectors could make a difference.
    spaces = [space_of(d) for d in (256, 384, 4096)]
    hits = [("one", chunk(5), 0.5)]
    searches = {convert.search_response(result(hits, space=s)).ByteSize() for s in spaces}
    assert len(searches) == 1
    statuses = [
        IndexStatus(
            name="one",
            kind="markdown",
            state=IndexState.READY,
            index=None,
            space=s,
            document_count=1,
            chunk_count=1,
            generation=1,
            state_since=1_800_000_000.0,
            last_error="",
            progress=None,
        )
        for s in spaces
    ]
    assert len({convert.index(status).ByteSize() for status in statuses}) == 1
    # GetEmbeddingSpace alone carries the vectors: both of them, at full length.
    full = convert.space_with_vectors(spaces[1])
    assert len(full.fingerprint) == len(full.query_fingerprint) == 384
