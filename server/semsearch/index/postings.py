"""Inverted metadata postings, so a filter costs set lookups instead of a scan of every chunk.

Shared by the vector and the lexical index: a filter value matches the whole metadata value or
one item of a comma-joined list (tags: "a, b").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from semsearch.corpus import Chunk


def _values(value: str) -> set[str]:
    return {value, *(item.strip() for item in value.split(",") if item.strip())}


class MetadataPostings:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        postings: dict[tuple[str, str], list[int]] = {}
        for row, chunk in enumerate(chunks):
            for key, value in chunk.metadata.items():
                for item in _values(value):
                    postings.setdefault((key, item), []).append(row)
        self._postings = {k: np.asarray(v, dtype=np.int64) for k, v in postings.items()}

    def rows(self, metadata_filter: Mapping[str, str]) -> np.ndarray | None:
        """Row numbers passing every entry (ascending), or None when there is no filter."""
        rows: np.ndarray | None = None
        for key, value in metadata_filter.items():
            hit = self._postings.get((key, value), np.empty(0, dtype=np.int64))
            rows = hit if rows is None else np.intersect1d(rows, hit, assume_unique=True)
        return rows
