"""Exact top-k, collapse, filter and min_score of the immutable vector index."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingSpace
from semsearch.index import VectorIndex

SPACE = EmbeddingSpace("test", 4)


def chunk(doc: str, n: int, **metadata: str) -> Chunk:
    return Chunk(
        f"{doc}#{n}", doc, doc.title(), "", f"text {doc} {n}", f"text {doc} {n}", f"{doc}.md", metadata
    )


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def index() -> VectorIndex:
    chunks = [
        chunk("alpha", 0, tags="ops, disk", team="db"),
        chunk("alpha", 1, tags="ops, disk", team="db"),
        chunk("beta", 0, tags="ops", team="net"),
        chunk("gamma", 0, tags="fees", team="db"),
    ]
    matrix = np.stack([unit(1, 0, 0, 0), unit(0.9, 0.1, 0, 0), unit(0.8, 0.6, 0, 0), unit(0, 0, 1, 0)])
    return VectorIndex(chunks, matrix, SPACE)


def test_scores_are_exact_dot_products_in_descending_order(index: VectorIndex) -> None:
    query = unit(1, 0.2, 0.1, 0)
    hits = index.search(query, top_k=10, collapse=False)
    expected = index.matrix @ query
    assert [h.chunk.id for h in hits] == [index.chunks[i].id for i in np.argsort(-expected)]
    assert [h.score for h in hits] == pytest.approx(sorted(expected.tolist(), reverse=True))


def test_collapse_keeps_the_best_chunk_of_each_document(index: VectorIndex) -> None:
    hits = index.search(unit(1, 0, 0, 0), top_k=10)
    assert [h.chunk.id for h in hits] == ["alpha#0", "beta#0", "gamma#0"]


def test_collapse_still_fills_top_k_when_one_document_crowds_the_top() -> None:
    chunks = [chunk("big", i) for i in range(50)] + [chunk("small", 0)]
    matrix = np.stack([unit(1, 0.01 * i, 0, 0) for i in range(50)] + [unit(0, 1, 0, 0)])
    hits = VectorIndex(chunks, matrix, SPACE).search(unit(1, 0, 0, 0), top_k=2)
    assert [h.chunk.document_id for h in hits] == ["big", "small"]


def test_top_k_limits_the_number_of_hits(index: VectorIndex) -> None:
    assert len(index.search(unit(1, 0, 0, 0), top_k=2, collapse=False)) == 2


def test_min_score_drops_weaker_hits(index: VectorIndex) -> None:
    hits = index.search(unit(1, 0, 0, 0), top_k=10, min_score=0.85, collapse=False)
    assert {h.chunk.id for h in hits} == {"alpha#0", "alpha#1"}
    assert all(h.score >= 0.85 for h in hits)


def test_filter_matches_whole_values_and_list_items(index: VectorIndex) -> None:
    query = unit(1, 0, 0, 0)
    assert {h.chunk.document_id for h in index.search(query, 10, metadata_filter={"team": "db"})} == {
        "alpha",
        "gamma",
    }
    assert {h.chunk.document_id for h in index.search(query, 10, metadata_filter={"tags": "disk"})} == {
        "alpha"
    }
    both = index.search(query, 10, metadata_filter={"tags": "ops", "team": "net"})
    assert [h.chunk.document_id for h in both] == ["beta"]
    assert index.search(query, 10, metadata_filter={"team": "nobody"}) == []
    assert index.search(query, 10, metadata_filter={"no-such-field": "x"}) == []


def test_matrix_is_read_only_and_shape_is_checked(index: VectorIndex) -> None:
    with pytest.raises(ValueError):
        index.matrix[0, 0] = 2.0
    with pytest.raises(ValueError, match="does not fit"):
        VectorIndex([chunk("a", 0)], np.zeros((2, 4), dtype=np.float32), SPACE)
    with pytest.raises(ValueError, match="query has shape"):
        index.search(np.zeros(3, dtype=np.float32), 1)


def test_empty_index_returns_nothing() -> None:
    empty = VectorIndex((), np.empty((0, 4), dtype=np.float32), SPACE)
    assert empty.search(unit(1, 0, 0, 0), 5) == []


def test_matches_brute_force_on_random_data() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(500, 4)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    chunks = [chunk(f"d{i // 3}", i % 3) for i in range(500)]
    index = VectorIndex(chunks, matrix, SPACE)
    query = unit(*rng.normal(size=4))
    scores = matrix @ query
    best_per_doc: dict[str, float] = {}
    for c, s in zip(chunks, scores, strict=True):
        best_per_doc[c.document_id] = max(best_per_doc.get(c.document_id, -2.0), float(s))
    expected = sorted(best_per_doc.values(), reverse=True)[:20]
    assert [h.score for h in index.search(query, 20)] == pytest.approx(expected)
