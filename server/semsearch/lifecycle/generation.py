"""The serving generation: everything a search reads of one index, frozen, from one chunk tuple.

A slot holds exactly one; a swap is one assignment (``IndexSlot.serve``), so a search that took the
reference sees one whole generation — its words, its vectors and their space agree by
construction — and never a mix of two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from semsearch.corpus import Chunk, Document
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.index import VectorIndex
from semsearch.index.lexical import LexicalIndex


@dataclass(frozen=True, slots=True)
class ServingGeneration:
    number: int  # counts the builds swapped in; words-only updates keep the number
    documents: tuple[Document, ...]
    chunks: tuple[Chunk, ...]  # every chunk in row order: the rows of both indexes
    lexical: LexicalIndex
    vectors: VectorIndex | None = None  # None: words only (never built, or parked)
    space: EmbeddingSpace | None = None  # of the last build; kept while parked, to report

    def __post_init__(self) -> None:
        # Row numbers are shared between the two indexes: they must hold the very same chunks.
        if self.lexical.chunks is not self.chunks:
            raise ValueError("the lexical index was built from other chunks than the generation's")
        if self.vectors is not None and (
            self.vectors.chunks is not self.chunks or self.vectors.space != self.space
        ):
            raise ValueError("the vector index was built from other chunks or in another space")

    @classmethod
    def words_only(
        cls, documents: tuple[Document, ...], lexical: LexicalIndex, previous: ServingGeneration | None
    ) -> ServingGeneration:
        """Words of (newer) sources with no vectors yet: number and space stay the last build's."""
        number = previous.number if previous is not None else 0
        space = previous.space if previous is not None else None
        return cls(number, documents, lexical.chunks, lexical, None, space)

    @classmethod
    def built(
        cls, number: int, documents: tuple[Document, ...], lexical: LexicalIndex, vectors: VectorIndex
    ) -> ServingGeneration:
        return cls(number, documents, lexical.chunks, lexical, vectors, vectors.space)

    def parked(self) -> ServingGeneration:
        """The same generation without its vectors: it answers with words only, and frees the matrix."""
        return replace(self, vectors=None)

    @property
    def document_count(self) -> int:
        return len(self.documents)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)
