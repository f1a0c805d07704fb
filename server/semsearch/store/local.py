"""The one-process store: generations live in this process's memory, vectors in the SQLite cache.

Nothing of a generation outlives the process (the cache makes the next start cheap instead), and
the store holds the very objects the serving generation holds, so keeping it costs no memory
beyond the generations not yet dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semsearch.corpus import Document
from semsearch.embeddings.cache import EmbeddingCache
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.store.protocol import GenerationNotFound, GenerationRecord, StoredGeneration


@dataclass(frozen=True, slots=True)
class _Kept:
    generation: StoredGeneration
    created_at: float


class LocalStore:
    """Thread-safe: builds put generations from worker threads while servers read them."""

    def __init__(self, cache: EmbeddingCache | None = None) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._generations: dict[str, dict[int, _Kept]] = {}
        self._current: dict[str, int] = {}

    @property
    def cache(self) -> EmbeddingCache | None:
        return self._cache

    def put_generation(
        self,
        index: str,
        number: int,
        space: EmbeddingSpace,
        documents: Sequence[Document],
        vectors: np.ndarray,
    ) -> None:
        generation = StoredGeneration(index, number, space, tuple(documents), vectors)
        with self._lock:
            self._generations.setdefault(index, {})[number] = _Kept(generation, time.time())

    def read_generation(self, index: str, number: int) -> StoredGeneration:
        with self._lock:
            kept = self._generations.get(index, {}).get(number)
        if kept is None:
            raise GenerationNotFound(f"generation {number} of index {index!r} is not stored")
        return kept.generation

    def list_generations(self, index: str) -> list[GenerationRecord]:
        with self._lock:
            kept = sorted(self._generations.get(index, {}).items())
            current = self._current.get(index)
        return [
            GenerationRecord(
                index, number, k.generation.space, len(k.generation.chunks), k.created_at, number == current
            )
            for number, k in kept
        ]

    def make_current(self, index: str, number: int) -> None:
        with self._lock:
            if number not in self._generations.get(index, {}):
                raise GenerationNotFound(f"generation {number} of index {index!r} is not stored")
            self._current[index] = number

    def current_generation(self, index: str) -> int | None:
        with self._lock:
            return self._current.get(index)

    def drop_generations(self, index: str, keep: int = 1) -> int:
        with self._lock:
            kept = self._generations.get(index, {})
            current = self._current.get(index)
            doomed = [n for n in sorted(kept)[: max(len(kept) - keep, 0)] if n != current]
            for number in doomed:
                del kept[number]
        return len(doomed)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
