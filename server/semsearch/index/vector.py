"""An immutable float32 matrix of chunk vectors with exact top-k by dot product.

Immutable so that a swap is one reference assignment and a search that already holds a reference
finishes on the index it started with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from semsearch.corpus import Chunk
from semsearch.embeddings.space import EmbeddingSpace


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: Chunk
    score: float


def _metadata_values(value: str) -> set[str]:
    """A filter matches the whole value or one item of a comma-joined list (tags: "a, b")."""
    return {value, *(item.strip() for item in value.split(",") if item.strip())}


class VectorIndex:
    def __init__(self, chunks: Sequence[Chunk], matrix: np.ndarray, space: EmbeddingSpace) -> None:
        if matrix.ndim != 2 or matrix.shape != (len(chunks), space.dimensions):
            raise ValueError(
                f"matrix shape {matrix.shape} does not fit {len(chunks)} chunks × {space.dimensions}"
            )
        self.chunks = tuple(chunks)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.matrix.setflags(write=False)
        self.space = space
        self.document_ids = np.array([c.document_id for c in self.chunks], dtype=object)
        # Inverted metadata postings so a filter costs set lookups, not a scan of every chunk.
        postings: dict[tuple[str, str], list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            for key, value in chunk.metadata.items():
                for item in _metadata_values(value):
                    postings.setdefault((key, item), []).append(row)
        self._postings = {k: np.asarray(v, dtype=np.int64) for k, v in postings.items()}

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def document_count(self) -> int:
        return len(set(self.document_ids.tolist()))

    def _candidates(self, metadata_filter: Mapping[str, str]) -> np.ndarray | None:
        """Row numbers passing the filter, or None when there is no filter."""
        rows: np.ndarray | None = None
        for key, value in metadata_filter.items():
            hit = self._postings.get((key, value), np.empty(0, dtype=np.int64))
            rows = hit if rows is None else np.intersect1d(rows, hit, assume_unique=True)
        return rows

    def search(
        self,
        query: np.ndarray,
        top_k: int,
        min_score: float = -np.inf,
        metadata_filter: Mapping[str, str] | None = None,
        collapse: bool = True,
    ) -> list[ScoredChunk]:
        """Exact top-k by dot product; with ``collapse`` only each document's best chunk counts."""
        if query.shape != (self.space.dimensions,):
            raise ValueError(f"query has shape {query.shape}, index expects ({self.space.dimensions},)")
        rows = self._candidates(metadata_filter or {})
        if rows is None:
            scores = self.matrix @ query.astype(np.float32, copy=False)
            rows = np.arange(len(self.chunks))
        else:
            scores = self.matrix[rows] @ query.astype(np.float32, copy=False)
        keep = scores >= min_score
        rows, scores = rows[keep], scores[keep]
        order = self._ranked(scores, top_k, rows if collapse else None)
        return [ScoredChunk(self.chunks[rows[i]], float(scores[i])) for i in order]

    def _ranked(self, scores: np.ndarray, top_k: int, collapse_rows: np.ndarray | None) -> list[int]:
        """Positions of the best ``top_k`` scores (first chunk per document when collapsing)."""
        n = len(scores)
        want = top_k if collapse_rows is None else top_k * 4
        while True:
            take = min(n, want)
            if take == 0:
                return []
            part = np.argpartition(-scores, take - 1)[:take] if take < n else np.arange(n)
            ranked = part[np.lexsort((part, -scores[part]))]  # score desc, then row for stable ties
            if collapse_rows is None:
                return [int(i) for i in ranked[:top_k]]
            seen: set[str] = set()
            picked: list[int] = []
            for pos in ranked.tolist():
                doc = self.document_ids[collapse_rows[pos]]
                if doc not in seen:
                    seen.add(doc)
                    picked.append(pos)
                    if len(picked) == top_k:
                        return picked
            if take == n:
                return picked
            want *= 4  # many chunks of the same documents crowded the window: widen it
