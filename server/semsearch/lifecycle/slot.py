"""One index's slot: its state and the immutable generation it serves."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from semsearch.corpus import Document
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.index import VectorIndex
from semsearch.index.lexical import LexicalIndex
from semsearch.lifecycle.generation import ServingGeneration
from semsearch.lifecycle.state import IndexState, check_transition


@dataclass(frozen=True, slots=True)
class Progress:
    done: int = 0
    total: int = 0
    cached: int = 0
    rate: float = 0.0  # chunks embedded per second lately; 0 until measured
    seconds_left: float | None = None  # at that rate; None until known


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
    """One index's state and the generation it serves. Written only by the index manager, on the
    event loop; readers take ``status()`` or ``serving`` (one reference, one whole generation)."""

    name: str
    kind: str
    loaded: tuple[Document, ...] = ()  # the documents read at start: reported until a generation serves
    state: IndexState = IndexState.PARKED
    # None until its sources were first read into words; READY always serves one with vectors.
    serving: ServingGeneration | None = None
    state_since: float = field(default_factory=time.time)
    last_error: str = ""
    progress: Progress | None = None
    last_progress: Progress = field(default_factory=Progress)  # of the latest build, kept after it
    shadow: Shadow | None = None  # set while a migration builds this slot's next generation

    def serve(self, generation: ServingGeneration) -> None:
        """The swap: the one place a slot's serving generation changes."""
        self.serving = generation

    # Read-only views of the serving generation (one reference read each).
    @property
    def index(self) -> VectorIndex | None:
        serving = self.serving
        return serving.vectors if serving is not None else None

    @property
    def lexical(self) -> LexicalIndex | None:
        serving = self.serving
        return serving.lexical if serving is not None else None

    @property
    def documents(self) -> tuple[Document, ...]:
        serving = self.serving
        return serving.documents if serving is not None else self.loaded

    @property
    def space(self) -> EmbeddingSpace | None:
        serving = self.serving
        return serving.space if serving is not None else None

    @property
    def generation(self) -> int:
        serving = self.serving
        return serving.number if serving is not None else 0

    def move(self, new: IndexState) -> IndexState:
        """Change state after checking the transition table; return the previous state."""
        old = self.state
        check_transition(self.name, old, new)
        self.state = new
        self.state_since = time.time()
        if new is not IndexState.REBUILDING:
            self.progress = None
        return old

    def mirror(self, new: IndexState) -> None:
        """Take the state another replica's indexer reached (it checked the transition itself)."""
        if new is not self.state:
            self.state = new
            self.state_since = time.time()
        if new is not IndexState.REBUILDING:
            self.progress = None

    def set_progress(self, progress: Progress) -> None:
        """Progress of a rebuild in REBUILDING: reported in the index's status."""
        self.progress = self.last_progress = replace(progress)

    def note_progress(self, progress: Progress) -> None:
        """Progress of a background rebuild while READY: kept, not reported as REBUILDING progress."""
        self.last_progress = replace(progress)

    def status(self) -> IndexStatus:
        serving = self.serving
        return IndexStatus(
            name=self.name,
            kind=self.kind,
            state=self.state,
            index=serving.vectors if serving is not None else None,
            space=serving.space if serving is not None else None,
            document_count=len(self.documents),
            chunk_count=serving.chunk_count
            if serving is not None
            else sum(len(d.chunks) for d in self.loaded),
            generation=serving.number if serving is not None else 0,
            state_since=self.state_since,
            last_error=self.last_error,
            progress=self.progress,
            shadow=self.shadow,
        )
