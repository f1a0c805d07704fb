"""What each index is built from: its configured corpus, read at start and again when its files change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from semsearch.corpus import Chunk, CorpusError, Document, load_corpus, source_signature
from semsearch.logs import event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexSource:
    """What an index is built from: its name and kind, its loaded documents, and where they came from.

    With a ``path`` the sources can be read again when they change (``signature``).
    ``load_error`` says why they could not be read at start: such an index has no documents and
    waits PARKED, without holding back the others, until its files load.
    """

    name: str
    kind: str
    documents: tuple[Document, ...]
    path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    signature: str = ""
    load_error: str = ""
    pin_identifiers: bool = True  # a query naming a document puts it first (see index.pinning)
    # Every chunk, in order: one tuple that the vector and the lexical index of these sources both
    # hold, so their row numbers agree.
    chunks: tuple[Chunk, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chunks = tuple(chunk for document in self.documents for chunk in document.chunks)
        object.__setattr__(self, "chunks", chunks)


@dataclass(frozen=True, slots=True)
class Reread:
    """What one reading of the sources found."""

    changed: tuple[str, ...] = ()  # indexes whose documents changed
    unloadable: Mapping[str, str] = field(default_factory=dict)  # index -> why its files do not load
    loadable: tuple[str, ...] = ()  # indexes whose files load (unchanged, or read again)


class Sources:
    """The latest good read of every index's sources."""

    def __init__(self, sources: Sequence[IndexSource]) -> None:
        self._latest = {source.name: source for source in sources}

    def __getitem__(self, name: str) -> IndexSource:
        return self._latest[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._latest)

    def __len__(self) -> int:
        return len(self._latest)

    def values(self) -> list[IndexSource]:
        return list(self._latest.values())

    def forget_signatures(self) -> None:
        """Read every index's sources again at the next reread."""
        for name in self._latest:
            self.forget_signature(name)

    def forget_signature(self, name: str) -> None:
        """Read these sources again at the next reread, even if their files look unchanged."""
        self._latest[name] = replace(self._latest[name], signature="")

    async def reread(self, built: Mapping[str, tuple[Document, ...]]) -> Reread:
        """Read again the sources whose files changed. ``built`` holds each index's documents as
        served: a reread that differs from them is reported as changed. A corpus that no longer
        loads keeps its last good documents."""
        changed: list[str] = []
        unloadable: dict[str, str] = {}
        loadable: list[str] = []
        for name, source in list(self._latest.items()):
            if source.path is None:
                continue
            signature = await asyncio.to_thread(source_signature, source.kind, source.path)
            if signature == source.signature:
                loadable.append(name)
                continue
            try:
                loaded = await asyncio.to_thread(load_corpus, source.kind, source.path, source.options)
            except CorpusError as exc:
                event(log, "sources_unloadable", level=logging.WARNING, index=name, error=str(exc))
                unloadable[name] = str(exc)
                continue
            documents = tuple(loaded)
            loadable.append(name)
            self._latest[name] = replace(source, documents=documents, signature=signature, load_error="")
            if documents != built.get(name):
                changed.append(name)
                event(
                    log,
                    "sources_changed",
                    index=name,
                    documents=len(documents),
                    chunks=sum(len(d.chunks) for d in documents),
                )
        return Reread(tuple(changed), unloadable, tuple(loadable))
