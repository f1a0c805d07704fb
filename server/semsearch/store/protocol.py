"""The storage seam: what a store of index generations and embedding vectors must offer.

A *generation* is one build of one index: its chunks, in row order, and their vectors, all in one
embedding space. Builds put a generation, then make it *current* in one atomic step; servers read
the current generation back and serve it from memory. The embedding cache (``VectorCache``) keeps
vectors by (space, task, text) so a rebuild embeds only what it has never seen.

Every method is blocking and may do I/O: call it from a worker thread (``asyncio.to_thread``), never
on the event loop. Implementations: ``semsearch.store.local.LocalStore`` (one process: memory and a
SQLite cache) and, for several replicas, a PostgreSQL store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from semsearch.corpus import Chunk, Document
from semsearch.embeddings.space import EmbeddingSpace


class GenerationNotFound(LookupError):
    """No such generation of that index is stored (never put, or dropped since)."""


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """What is known of a stored generation without reading its vectors."""

    index: str
    number: int
    space: EmbeddingSpace
    chunk_count: int
    created_at: float  # unix time
    current: bool


@dataclass(frozen=True, slots=True)
class StoredGeneration:
    """A generation read back: its documents (chunks in row order) and one vector row per chunk."""

    index: str
    number: int
    space: EmbeddingSpace
    documents: tuple[Document, ...]
    vectors: np.ndarray  # float32, shape (chunk count, space.dimensions), rows in chunk order
    chunks: tuple[Chunk, ...] = field(init=False, repr=False, compare=False)  # every chunk, in row order

    def __post_init__(self) -> None:
        chunks = tuple(chunk for document in self.documents for chunk in document.chunks)
        if self.vectors.shape != (len(chunks), self.space.dimensions):
            raise ValueError(
                f"generation {self.number} of {self.index!r}: vectors {self.vectors.shape} do not fit "
                f"{len(chunks)} chunks x {self.space.dimensions}"
            )
        object.__setattr__(self, "chunks", chunks)


class VectorCache(Protocol):
    """Vectors by (space incl. fingerprints, task, sha256 of the text). Never a reason to fail a
    build: an implementation that cannot answer finds nothing and stores nothing."""

    def lookup(self, space: EmbeddingSpace, task: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text in ``space``, or None where there is none."""
        ...

    def store(self, space: EmbeddingSpace, task: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep these vectors: all of them or, on failure, none."""
        ...

    def prune(self) -> int:
        """Forget spaces beyond the retention; return how many went."""
        ...


class GenerationStore(Protocol):
    """Generations per index, the current one of each, and the embedding cache."""

    @property
    def cache(self) -> VectorCache | None:
        """The embedding cache, or None when caching is off."""
        ...

    def put_generation(
        self,
        index: str,
        number: int,
        space: EmbeddingSpace,
        documents: Sequence[Document],
        vectors: np.ndarray,
    ) -> None:
        """Store a built generation (not yet current). Putting the same number again replaces it."""
        ...

    def read_generation(self, index: str, number: int) -> StoredGeneration:
        """A stored generation, whole; GenerationNotFound when there is no such one."""
        ...

    def list_generations(self, index: str) -> list[GenerationRecord]:
        """The stored generations of ``index``, oldest first."""
        ...

    def make_current(self, index: str, number: int) -> None:
        """Atomically make a stored generation the one served; GenerationNotFound if it is not stored."""
        ...

    def current_generation(self, index: str) -> int | None:
        """The number of the current generation of ``index``, or None before its first build."""
        ...

    def drop_generations(self, index: str, keep: int = 1) -> int:
        """Drop all but the ``keep`` newest generations of ``index`` (never the current one)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
