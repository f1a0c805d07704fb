"""One index's slot: its retained sources, its state, and the immutable index currently serving."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from semsearch.corpus import Chunk, Document
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.index import VectorIndex
from semsearch.index.lexical import LexicalIndex
from semsearch.lifecycle.state import IndexState, check_transition


@dataclass(frozen=True, slots=True)
class Progress:
    done: int = 0
    total: int = 0
    cached: int = 0


@dataclass(frozen=True, slots=True)
class Shadow:
    """A migration's build of the slot's next generation in another space, made while it serves."""

    space: EmbeddingSpace
    generation: int  # the generation it will have once swapped in
    progress: Progress
    built: bool = False  # waiting for the other indexes' shadows


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """An immutable snapshot of a slot, safe to hand to other layers and to subscribers."""

    name: str
    kind: str
    state: IndexState
    index: VectorIndex | None
    space: EmbeddingSpace | None  # the space of the last successful build, kept while parked
    document_count: int
    chunk_count: int
    generation: int
    state_since: float  # unix time
    last_error: str
    progress: Progress | None
    shadow: Shadow | None = None


@dataclass
class IndexSlot:
    """Mutated only on the event loop; readers take ``status()`` or ``index`` (one reference)."""

    name: str
    kind: str
    documents: tuple[Document, ...]
    state: IndexState = IndexState.PARKED
    index: VectorIndex | None = None
    # The words of the same chunks: independent of any embedding space, so it stays while parked.
    lexical: LexicalIndex | None = None
    space: EmbeddingSpace | None = None
    generation: int = 0
    state_since: float = field(default_factory=time.time)
    last_error: str = ""
    progress: Progress | None = None
    last_progress: Progress = field(default_factory=Progress)  # of the latest build, kept after it
    shadow: Shadow | None = None  # set by a migration while it builds this slot's next generation

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return tuple(chunk for doc in self.documents for chunk in doc.chunks)

    def move(self, new: IndexState) -> IndexState:
        """Change state after checking the transition table; return the previous state."""
        old = self.state
        check_transition(self.name, old, new)
        self.state = new
        self.state_since = time.time()
        if new is not IndexState.REBUILDING:
            self.progress = None
        return old

    def set_progress(self, progress: Progress) -> None:
        """Progress of a rebuild in REBUILDING: reported in the index's status."""
        self.progress = self.last_progress = replace(progress)

    def note_progress(self, progress: Progress) -> None:
        """Progress of a background rebuild while READY: kept, not reported as REBUILDING progress."""
        self.last_progress = replace(progress)

    def status(self) -> IndexStatus:
        return IndexStatus(
            name=self.name,
            kind=self.kind,
            state=self.state,
            index=self.index,
            space=self.space,
            document_count=len(self.documents),
            chunk_count=sum(len(doc.chunks) for doc in self.documents),
            generation=self.generation,
            state_since=self.state_since,
            last_error=self.last_error,
            progress=self.progress,
            shadow=self.shadow,
        )
