"""A search hit inside one index: the chunk and its score."""

from __future__ import annotations

from dataclasses import dataclass

from semsearch.corpus import Chunk


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: Chunk
    score: float
