"""An immutable BM25 index of one index's chunks, and the identifiers its documents can be named by.

It depends on the chunks' text alone, never on an embedding space: it is built from the retained
chunks whenever they change and keeps serving while the vector index is parked or rebuilt. Like
the vector index it is immutable, so a swap is one reference assignment.

BM25 (Lucene variant, k1 = 1.5, b = 0.75) over the terms of ``semsearch.index.terms``, computed by
bm25s: its eager sparse matrix of per-term document scores makes a query a sum of a few columns.

Scores of several indexes compare only when their terms are weighed alike: a word common in one
small index is rare over all of them. ``shared_idf`` gives the query's terms one inverse document
frequency over every index searched (as if they were one index), and ``search`` rescales each
term's column to it. Document lengths stay each index's own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import bm25s
import numpy as np

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk
from semsearch.index.identifiers import Identifiers
from semsearch.index.postings import MetadataPostings
from semsearch.index.terms import terms

K1 = 1.5
B = 0.75

# bm25s sets its own logger to DEBUG; its build messages are not ours to print.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def idf(documents: int, frequency: int) -> float:
    """Lucene's inverse document frequency, the one bm25s builds its matrix with."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


class LexicalIndex:
    def __init__(self, chunks: Sequence[Chunk], kind: str, pin_identifiers: bool = True) -> None:
        self.chunks = tuple(chunks)
        self.kind = kind
        self.document_ids = [chunk.document_id for chunk in self.chunks]
        self.rows = {chunk.id: row for row, chunk in enumerate(self.chunks)}
        self._document_rows: dict[str, list[int]] = {}
        for row, document in enumerate(self.document_ids):
            self._document_rows.setdefault(document, []).append(row)
        self.postings = MetadataPostings(self.chunks)
        self.identifiers = Identifiers(kind, self.chunks, enabled=pin_identifiers)
        self._bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        self._vocabulary: Mapping[str, int] = {}
        self._data = self._rows = self._starts = np.zeros(0, dtype=np.int64)
        if self.chunks:
            self._bm25.index([terms(chunk.text) for chunk in self.chunks], show_progress=False)
            self._vocabulary = self._bm25.vocab_dict
            # The sparse matrix is by column (term): each column holds the rows containing it.
            self._data = self._bm25.scores["data"]
            self._rows = self._bm25.scores["indices"]
            self._starts = self._bm25.scores["indptr"]

    def __len__(self) -> int:
        return len(self.chunks)

    def frequency(self, term: str) -> int:
        """How many rows hold ``term`` (one of ``terms()``'s output)."""
        column = self._vocabulary.get(term)
        return 0 if column is None else int(self._starts[column + 1] - self._starts[column])

    def scores(self, query: str, shared: Mapping[str, float] | None = None) -> np.ndarray:
        """The BM25 score of every row for ``query`` (0 where no query term occurs).

        With ``shared`` (term -> idf, from ``shared_idf``) each term weighs its shared idf instead
        of this index's own, so that scores compare with those of the other indexes searched.
        """
        scores = np.zeros(len(self.chunks), dtype=np.float32)
        for term in terms(query):  # a repeated term counts again, as in bm25s
            column = self._vocabulary.get(term)
            if column is None:
                continue
            start, end = self._starts[column], self._starts[column + 1]
            weight = 1.0 if shared is None else shared[term] / idf(len(self.chunks), int(end - start))
            scores[self._rows[start:end]] += self._data[start:end] * np.float32(weight)
        return scores

    def search(
        self,
        query: str,
        top_k: int,
        metadata_filter: Mapping[str, str] | None = None,
        collapse: bool = True,
        shared: Mapping[str, float] | None = None,
    ) -> list[ScoredChunk]:
        """The ``top_k`` best rows with a positive score, best first (ties: lower row first).

        With ``collapse`` only each document's best row counts, so the hits are ``top_k`` documents.
        ``shared``: the query terms' idf over every index searched (see ``scores``).
        """
        scores = self.scores(query, shared)
        rows = self.postings.rows(metadata_filter or {})
        candidates = np.flatnonzero(scores > 0) if rows is None else rows[scores[rows] > 0]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        picked: list[int] = []
        seen: set[str] = set()
        for row in order.tolist():
            if collapse:
                document = self.document_ids[row]
                if document in seen:
                    continue
                seen.add(document)
            picked.append(row)
            if len(picked) == top_k:
                break
        return [ScoredChunk(self.chunks[row], float(scores[row])) for row in picked]

    def first_chunk(self, document_id: str, metadata_filter: Mapping[str, str] | None = None) -> Chunk | None:
        """The first chunk of a document that passes the filter (None when none does)."""
        rows = self.postings.rows(metadata_filter or {})
        allowed = None if rows is None else set(rows.tolist())
        for row in self._document_rows.get(document_id, []):
            if allowed is None or row in allowed:
                return self.chunks[row]
        return None


def shared_idf(indexes: Sequence[LexicalIndex], query: str) -> dict[str, float]:
    """Each query term's idf over the rows of all ``indexes`` together, as if they were one index."""
    rows = sum(len(index) for index in indexes)
    query_terms = dict.fromkeys(terms(query))
    return {term: idf(rows, sum(index.frequency(term) for index in indexes)) for term in query_terms}
