"""Identifier pinning at query time: documents a query names (see ``index.identifiers``, the table
of names each lexical index holds) go first, in the order they were named."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk
from semsearch.index.lexical import LexicalIndex
from semsearch.search.hits import Contribution, Hit
from semsearch.search.query import SearchMode, SearchQuery


def named_chunks(lexical: LexicalIndex, query: SearchQuery) -> list[Chunk]:
    """A chunk of each document the query names that passes the filter, in the query's order."""
    named = lexical.identifiers.named_in(query.text)
    chunks = (lexical.first_chunk(document, query.metadata_filter) for document in named)
    return [chunk for chunk in chunks if chunk is not None]


def pin(
    hits: list[Hit], contributions: Sequence[Contribution], mode: SearchMode, min_score: float
) -> list[Hit]:
    """The hits of named documents first (in the order they were named), then the others.

    A named document no ranking held is added with the chunk its index gave; its score is then 0 in
    HYBRID (no rank to fuse) and its chunk's BM25 in LEXICAL. It still has to pass ``min_score``.
    """
    named = [(c, chunk) for c in contributions for chunk in c.named]
    if not named:
        return hits
    position = {(c.index, chunk.document_id): n for n, (c, chunk) in enumerate(named)}
    first: list[Hit] = []
    rest: list[Hit] = []
    for hit in hits:
        named_document = (hit.index, hit.scored.chunk.document_id) in position
        (first if named_document else rest).append(replace(hit, pinned=True) if named_document else hit)
    present = {(h.index, h.scored.chunk.document_id) for h in first}
    for contribution, chunk in named:
        if (contribution.index, chunk.document_id) in present:
            continue
        present.add((contribution.index, chunk.document_id))
        dense_score = contribution.dense_of(chunk) if contribution.dense is not None else None
        if dense_score is not None and dense_score < min_score:
            continue
        score = (contribution.lexical_of(chunk) or 0.0) if mode is SearchMode.LEXICAL else 0.0
        first.append(Hit(contribution.index, ScoredChunk(chunk, score), dense_score, pinned=True))
    first.sort(key=lambda h: position[(h.index, h.scored.chunk.document_id)])  # stable: rank order kept
    return first + rest
