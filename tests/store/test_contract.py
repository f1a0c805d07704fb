"""The GenerationStore contract: what every store (local, PostgreSQL) must do the same way."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.corpus import Chunk, Document
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.store import GenerationNotFound, GenerationStore

SPACE = EmbeddingSpace("model-a", 4, fingerprint=(1.0, 0.0, 0.0, 0.0), query_fingerprint=(0.0, 1.0, 0.0, 0.0))
OTHER = EmbeddingSpace("model-b", 4, fingerprint=(0.0, 0.0, 1.0, 0.0), query_fingerprint=(0.0, 0.0, 0.0, 1.0))


def _documents(count: int, tag: str = "") -> tuple[Document, ...]:
    documents = []
    for d in range(count):
        chunks = tuple(
            Chunk(
                f"doc-{d}#{c}",
                f"doc-{d}",
                f"Title {d}",
                f"Section {c}",
                f"Title {d}\n\ntext {tag} {d}.{c}",
                f"text {tag} {d}.{c}",
                f"doc-{d}.md",
                {"status": "Final" if d % 2 else "Draft"},
            )
            for c in range(2)
        )
        documents.append(Document(f"doc-{d}", f"Title {d}", f"doc-{d}.md", {"status": "x"}, chunks))
    return tuple(documents)


def _vectors(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)


def test_a_put_generation_reads_back_whole(store: GenerationStore) -> None:
    documents, vectors = _documents(3), _vectors(6, 1)
    store.put_generation("eips", 1, SPACE, documents, vectors)
    read = store.read_generation("eips", 1)
    assert (read.index, read.number) == ("eips", 1)
    assert read.space.same_as(SPACE)
    assert read.documents == documents
    assert [c.id for c in read.chunks] == [c.id for d in documents for c in d.chunks]
    np.testing.assert_array_equal(read.vectors, vectors)


def test_nothing_is_current_before_make_current(store: GenerationStore) -> None:
    assert store.current_generation("eips") is None
    store.put_generation("eips", 1, SPACE, _documents(1), _vectors(2, 1))
    assert store.current_generation("eips") is None
    store.make_current("eips", 1)
    assert store.current_generation("eips") == 1


def test_make_current_switches_and_lists(store: GenerationStore) -> None:
    store.put_generation("eips", 1, SPACE, _documents(1), _vectors(2, 1))
    store.put_generation("eips", 2, OTHER, _documents(2), _vectors(4, 2))
    store.make_current("eips", 1)
    store.make_current("eips", 2)
    records = store.list_generations("eips")
    assert [(r.number, r.current, r.chunk_count) for r in records] == [(1, False, 2), (2, True, 4)]
    assert records[1].space.same_as(OTHER)
    assert store.list_generations("specs") == []


def test_an_unknown_generation_is_refused(store: GenerationStore) -> None:
    with pytest.raises(GenerationNotFound):
        store.read_generation("eips", 7)
    with pytest.raises(GenerationNotFound):
        store.make_current("eips", 7)
    assert store.current_generation("eips") is None


def test_drop_keeps_the_newest_and_never_the_current(store: GenerationStore) -> None:
    for number in (1, 2, 3):
        store.put_generation("eips", number, SPACE, _documents(1, str(number)), _vectors(2, number))
    store.make_current("eips", 1)  # an old one may still be current (a failed later build)
    assert store.drop_generations("eips", keep=1) == 1  # 2 goes; 1 is current, 3 the newest
    assert [r.number for r in store.list_generations("eips")] == [1, 3]
    with pytest.raises(GenerationNotFound):
        store.read_generation("eips", 2)


def test_indexes_are_independent(store: GenerationStore) -> None:
    store.put_generation("eips", 1, SPACE, _documents(1), _vectors(2, 1))
    store.put_generation("specs", 1, SPACE, _documents(2), _vectors(4, 2))
    store.make_current("specs", 1)
    assert store.current_generation("eips") is None
    assert store.read_generation("specs", 1).vectors.shape == (4, 4)


def test_cache_finds_what_was_stored_in_the_same_space_only(store: GenerationStore) -> None:
    cache = store.cache
    assert cache is not None
    vectors = _vectors(2, 3)
    cache.store(SPACE, "document", ["alpha", "beta"], vectors)
    found = cache.lookup(SPACE, "document", ["beta", "gamma", "alpha"])
    assert found[1] is None
    assert found[0] is not None and found[2] is not None
    np.testing.assert_array_equal(found[0], vectors[1])
    np.testing.assert_array_equal(found[2], vectors[0])
    assert cache.lookup(OTHER, "document", ["alpha"]) == [None]
    assert cache.lookup(SPACE, "query", ["alpha"]) == [None]


def test_putting_a_number_again_replaces_it(store: GenerationStore) -> None:
    store.put_generation("eips", 1, SPACE, _documents(3, "old"), _vectors(6, 1))
    store.make_current("eips", 1)
    documents, vectors = _documents(1, "new"), _vectors(2, 2)
    store.put_generation("eips", 1, OTHER, documents, vectors)
    read = store.read_generation("eips", 1)
    assert read.documents == documents and read.space.same_as(OTHER)
    np.testing.assert_array_equal(read.vectors, vectors)
    assert [(r.number, r.current, r.chunk_count) for r in store.list_generations("eips")] == [(1, True, 2)]


def test_documents_read_back_exactly_even_odd_ones(store: GenerationStore) -> None:
    empty = Document("empty", "No chunks", "empty.md", {}, ())
    odd = Chunk("odd#0", "odd", "Ünïcode ✓", "", "line\nbreak\ttab 'quote' \"dq\"", "", "odd.md", {})
    documents = (_documents(1)[0], empty, Document("odd", "Ünïcode ✓", "odd.md", {"k": "v", "a": ""}, (odd,)))
    vectors = _vectors(3, 4)
    store.put_generation("eips", 1, SPACE, documents, vectors)
    read = store.read_generation("eips", 1)
    assert read.documents == documents
    assert read.vectors.dtype == np.float32
    np.testing.assert_array_equal(read.vectors, vectors)


def test_a_put_whose_vectors_do_not_fit_is_refused_and_stores_nothing(store: GenerationStore) -> None:
    with pytest.raises(ValueError):
        store.put_generation("eips", 1, SPACE, _documents(2), _vectors(3, 1))
    assert store.list_generations("eips") == []


def test_cache_keeps_the_most_recently_used_spaces(store: GenerationStore) -> None:
    cache = store.cache
    assert cache is not None
    spaces = [
        EmbeddingSpace(f"model-{n}", 4, fingerprint=tuple(float(n == i) for i in range(4))) for n in range(4)
    ]
    for space in spaces:
        cache.store(space, "document", ["alpha"], _vectors(1, 5))
    cache.lookup(spaces[0], "document", ["alpha"])  # used again: now the most recent
    assert cache.prune() == 1  # three are kept (the default): model-1 was used least recently
    assert cache.lookup(spaces[1], "document", ["alpha"]) == [None]
    assert all(
        cache.lookup(space, "document", ["alpha"])[0] is not None for space in (spaces[0], *spaces[2:])
    )
