"""Corpora: sources on disk -> documents -> chunks, one module per corpus kind.

``load_corpus(kind, path, options)`` is the entry point; the result depends only on the files'
contents and names, so chunk ids are stable from one load to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from semsearch.corpus import eip, examples, markdown, spec
from semsearch.corpus.model import Chunk, CorpusError, Document, SourceFileError
from semsearch.corpus.options import resolve_options
from semsearch.corpus.signature import files_signature

__all__ = [
    "KINDS",
    "Chunk",
    "CorpusError",
    "Document",
    "SourceFileError",
    "default_options",
    "load_corpus",
    "source_signature",
]

KINDS: tuple[str, ...] = ("markdown", "eip", "spec", "examples")

_Loader = Callable[[Path, Mapping[str, int]], list[Document]]
_KIND_MODULES: Mapping[str, tuple[_Loader, Mapping[str, int], tuple[str, ...]]] = {
    "markdown": (markdown.load, markdown.DEFAULTS, markdown.PATTERNS),
    "eip": (eip.load, eip.DEFAULTS, eip.PATTERNS),
    "spec": (spec.load, spec.DEFAULTS, spec.PATTERNS),
    "examples": (examples.load, examples.DEFAULTS, examples.PATTERNS),
}


def default_options(kind: str) -> dict[str, int]:
    """The options ``kind`` accepts, with their defaults."""
    return dict(_kind(kind)[1])


def load_corpus(kind: str, path: Path, options: Mapping[str, object]) -> list[Document]:
    """Load every document of a corpus of ``kind`` under the folder ``path``, sorted by source.

    Raises CorpusError for an unknown kind or option, a missing folder, a folder with no file of
    that kind, and its subclass SourceFileError for a file that cannot be read or parsed (the
    message names the file).
    """
    load, defaults, patterns = _kind(kind)
    resolved = resolve_options(kind, defaults, options)
    root = Path(path)
    if not root.exists():
        raise CorpusError(f"corpus path {str(root)!r} does not exist")
    if not root.is_dir():
        raise CorpusError(f"corpus path {str(root)!r} is not a directory")
    try:
        documents = load(root, resolved)
    except CorpusError as exc:  # every loader names the file it failed on
        raise SourceFileError(str(exc)) from exc
    if not documents:
        wanted = " or ".join(patterns)
        raise CorpusError(f"no {kind} documents under {str(root)!r} (looked for {wanted})")
    # Stable sort: documents from one file (examples) keep their order in it.
    return sorted(documents, key=lambda document: document.source)


def source_signature(kind: str, path: Path) -> str:
    """A value that changes whenever the files ``load_corpus(kind, path, ...)`` reads change."""
    return files_signature(Path(path), _kind(kind)[2])


def _kind(kind: str) -> tuple[_Loader, Mapping[str, int], tuple[str, ...]]:
    try:
        return _KIND_MODULES[kind]
    except KeyError:
        raise CorpusError(f"unknown corpus kind {kind!r} (known: {', '.join(KINDS)})") from None
