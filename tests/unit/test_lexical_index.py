"""The BM25 index: its terms, its scores against the formula (alone and with statistics shared by
several indexes), filters, collapse, and its limits."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from semsearch.corpus import Chunk
from semsearch.index.lexical import K1, B, LexicalIndex, shared_idf
from semsearch.index.terms import terms
from tests.support.corpora import fixture_chunks


def chunk(doc: str, n: int, text: str, **metadata: str) -> Chunk:
    return Chunk(f"{doc}#{n}", doc, doc.title(), "", text, text, f"{doc}.md", metadata)


CHUNKS = [
    chunk("alpha", 0, "The blob sidecar carries blobs next to the block", tags="blobs, network"),
    chunk("alpha", 1, "Sidecars are gossiped on their own subnet", tags="blobs, network"),
    chunk("beta", 0, "SELFDESTRUCT no longer deletes the account's code", tags="opcodes"),
    chunk("gamma", 0, "Rebuilding an index after the model changed", tags="operations"),
    chunk("delta", 0, "Nothing in common with any query here", tags="misc"),
]


def bm25(query: str, texts: list[str], row: int, others: list[str] | None = None) -> float:
    """Lucene's BM25 written out: sum of idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)).

    With ``others`` (the texts of the other indexes searched) the idf counts those texts too; the
    average length stays that of ``texts``.
    """
    docs = [Counter(terms(t)) for t in texts]
    everyone = docs + [Counter(terms(t)) for t in others or []]
    avgdl = sum(sum(d.values()) for d in docs) / len(docs)
    doc, length = docs[row], sum(docs[row].values())
    total = 0.0
    for term in terms(query):
        df = sum(term in d for d in everyone)
        if not df or term not in doc:
            continue
        idf = math.log(1 + (len(everyone) - df + 0.5) / (df + 0.5))
        tf = doc[term]
        total += idf * tf / (tf + K1 * (1 - B + B * length / avgdl))
    return total


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EIP-4844", ["eip", "4844"]),
        ("eip4844", ["eip4844", "eip", "4844"]),
        ("blob_sidecar", ["blob_sidecar", "blob", "sidecar"]),
        ("LightClientSnapshot", ["lightclientsnapshot", "light", "client", "snapshot"]),
        ("SELFDESTRUCT", ["selfdestruct"]),
        ("What does the rebuilding index do?", ["rebuild", "index"]),
        ("café_crème", ["café_crèm", "café", "crème"]),
        ("opcode 0xf9", ["opcod", "0xf9"]),
        ("v2 a1", ["v2", "a1"]),  # no one-character parts
    ],
)
def test_terms_keep_identifiers_whole_and_split(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_scores_follow_the_bm25_formula() -> None:
    index = LexicalIndex(CHUNKS, "markdown")
    texts = [c.text for c in CHUNKS]
    for query in ("blob sidecar", "sidecars on the subnet", "selfdestruct code", "blob blob index"):
        scores = index.scores(query)
        for row in range(len(CHUNKS)):
            assert scores[row] == pytest.approx(bm25(query, texts, row), rel=1e-5), (query, row)


# A small index in which "blob" is in every chunk: alone, its idf there is tiny.
BLOBS = [
    chunk("one", 0, "blob count per slot"),
    chunk("two", 0, "blob submitters ranking by rollup"),
    chunk("three", 0, "empty blob detection"),
]


def test_shared_statistics_weigh_each_term_by_its_rarity_over_every_index() -> None:
    big, small = LexicalIndex(CHUNKS, "markdown"), LexicalIndex(BLOBS, "examples")
    texts, blobs = [c.text for c in CHUNKS], [c.text for c in BLOBS]
    for query in ("blob sidecar", "rollup blob ranking", "blob blob", "zebra"):
        shared = shared_idf([big, small], query)
        assert set(shared) == set(terms(query))
        for row in range(len(CHUNKS)):
            expected = bm25(query, texts, row, others=blobs)
            assert big.scores(query, shared)[row] == pytest.approx(expected, rel=1e-5), (query, row)
        for row in range(len(BLOBS)):
            expected = bm25(query, blobs, row, others=texts)
            assert small.scores(query, shared)[row] == pytest.approx(expected, rel=1e-5), (query, row)
    # Alone, the small index scores "blob" near zero; shared, its blob chunk can beat a long one.
    alone = small.search("blob", 1)[0].score
    together = small.search("blob", 1, shared=shared_idf([big, small], "blob"))[0].score
    assert together > 2 * alone


def test_statistics_shared_with_no_other_index_change_nothing() -> None:
    index = LexicalIndex(CHUNKS, "markdown")
    for query in ("blob sidecar", "selfdestruct code", "zebra"):
        assert list(index.scores(query, shared_idf([index], query))) == list(index.scores(query))
    assert shared_idf([], "blob") == {"blob": pytest.approx(math.log(1 + 0.5 / 0.5))}


def test_an_exact_term_finds_its_chunk_first_and_unrelated_chunks_not_at_all() -> None:
    index = LexicalIndex(CHUNKS, "markdown")
    hits = index.search("SELFDESTRUCT", 10, collapse=False)
    assert [h.chunk.id for h in hits] == ["beta#0"]
    stemmed = index.search("rebuild", 10)
    assert [h.chunk.id for h in stemmed] == ["gamma#0"]
    assert index.search("zebra quantum", 10) == []
    assert index.search("the of and", 10) == []  # only stop words: no term at all


def test_collapse_keeps_each_documents_best_chunk_and_ranks_by_score() -> None:
    index = LexicalIndex(CHUNKS, "markdown")
    every = index.search("sidecar blob", 10, collapse=False)
    assert [h.chunk.id for h in every] == ["alpha#0", "alpha#1"]
    assert every[0].score > every[1].score > 0
    collapsed = index.search("sidecar blob", 10)
    assert [h.chunk.id for h in collapsed] == ["alpha#0"]
    assert len(index.search("sidecar blob", 1, collapse=False)) == 1


def test_filter_matches_whole_values_and_list_items() -> None:
    index = LexicalIndex(CHUNKS, "markdown")
    network = index.search("sidecar", 10, {"tags": "network"}, collapse=False)
    assert sorted(h.chunk.id for h in network) == ["alpha#0", "alpha#1"]
    assert index.search("sidecar", 10, {"tags": "opcodes"}) == []
    assert index.search("sidecar", 10, {"tags": "blobs, network"}, collapse=False)
    assert index.first_chunk("alpha", {"tags": "network"}) == CHUNKS[0]
    assert index.first_chunk("alpha", {"tags": "opcodes"}) is None


def test_an_empty_index_answers_nothing() -> None:
    index = LexicalIndex([], "markdown")
    assert len(index) == 0
    assert index.search("anything", 10) == []


def test_every_fixture_chunk_is_found_by_its_own_title_words() -> None:
    """Over the fixture corpora: a document's own rare words bring it into the top hits."""
    by_index: dict[str, list[Chunk]] = {}
    for (name, _), c in fixture_chunks().items():
        by_index.setdefault(name, []).append(c)
    for name, chunks in by_index.items():
        index = LexicalIndex(chunks, "markdown")
        for c in chunks:
            hits = index.search(c.text, 3, collapse=False)
            assert c.id in {h.chunk.id for h in hits}, (name, c.id)
