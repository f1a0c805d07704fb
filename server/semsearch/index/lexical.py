"""An immutable BM25 index of one index's chunks, and the identifiers its documents can be named by.

It depends on the chunks' text alone, never on an embedding space: it is built from the retained
chunks whenever they change and keeps serving while the vector index is parked or rebuilt. Like
the vector index it is immutable, so a swap is one reference assignment.

BM25 (Lucene variant, k1 = 1.5, b = 0.75) over the terms of ``semsearch.index.terms``, computed by
bm25s: its eager sparse matrix of per-term document scores makes a query a sum of a few columns.
"""

from __future__ import annotations

import logging
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
        if self.chunks:
            self._bm25.index([terms(chunk.text) for chunk in self.chunks], show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every row for ``query`` (0 where no query term occurs)."""
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(terms(query))
        if not ids:
            return np.zeros(len(self.chunks), dtype=np.float32)
        scores: np.ndarray = self._bm25.get_scores_from_ids(ids)
        return scores

    def search(
        self,
        query: str,
        top_k: int,
        metadata_filter: Mapping[str, str] | None = None,
        collapse: bool = True,
    ) -> list[ScoredChunk]:
        """The ``top_k`` best rows with a positive score, best first (ties: lower row first).

        With ``collapse`` only each document's best row counts, so the hits are ``top_k`` documents.
        """
        scores = self.scores(query)
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
