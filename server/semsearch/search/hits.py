"""What a search is made of: each index's contribution per signal, and the hits ranked from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk

ChunkScore = Callable[[Chunk], float | None]


@dataclass(frozen=True, slots=True)
class Hit:
    """One hit of a response: ``scored.score`` is the score that ranks it (see SearchMode)."""

    index: str
    scored: ScoredChunk
    dense_score: float | None = None  # cosine of this chunk, whenever its index served dense search
    dense_rank: int | None = None  # 1-based, in the dense ranking of every searched index
    lexical_score: float | None = None  # BM25 (of the document's best chunk unless all chunks)
    lexical_rank: int | None = None  # 1-based, in the lexical ranking of every searched index
    pinned: bool = False  # the query names its document


@dataclass(frozen=True)
class Contribution:
    """What one index brought: None for a signal it did not serve."""

    index: str
    dense: Sequence[ScoredChunk] | None = None
    lexical: Sequence[ScoredChunk] | None = None
    named: Sequence[Chunk] = ()  # a chunk of each document the query names, in the query's order
    dense_of: ChunkScore = field(default=lambda chunk: None)  # exact cosine of any chunk
    lexical_of: ChunkScore = field(default=lambda chunk: None)  # BM25 of any chunk
    # Chunks its dense search chose among: the best of more chunks scores higher by chance alone.
    size: int = 1
