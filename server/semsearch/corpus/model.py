"""Documents and chunks: what every corpus kind produces and what an index is rebuilt from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of embedding and retrieval.

    ``text`` is exactly what is sent to the embedding provider (title prefixed); ``body`` is the
    chunk's own text without the prefix, used for snippets.
    """

    id: str  # stable within its index, e.g. "eip-4844#3"
    document_id: str
    title: str
    section: str
    text: str
    body: str
    source: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Document:
    """One source document with its chunks, retained for rebuilds."""

    id: str  # stable within its index, e.g. "eip-4844"
    title: str
    source: str  # path relative to the index root, or a URI
    metadata: Mapping[str, str]
    chunks: tuple[Chunk, ...]


class CorpusError(ValueError):
    """A corpus could not be loaded (missing path, unparseable file, bad option)."""


class SourceFileError(CorpusError):
    """A file inside an existing corpus folder could not be read or parsed (the message names it).

    Unlike a missing folder or a bad option, this is not a configuration mistake: only this corpus
    is affected, and it loads again once the file is fixed.
    """
