"""Checking a corpus kind's options against the ones it accepts."""

from __future__ import annotations

from collections.abc import Mapping

from semsearch.corpus.model import CorpusError

# Below this a chunk cannot hold a sentence, and cutting degenerates into character soup.
MIN_CHUNK_CHARS = 50


def resolve_options(kind: str, defaults: Mapping[str, int], given: Mapping[str, object]) -> dict[str, int]:
    """Defaults overlaid with ``given``; every option of these kinds is a character count."""
    resolved = dict(defaults)
    for name, value in given.items():
        if name not in defaults:
            accepted = ", ".join(sorted(defaults)) or "none"
            raise CorpusError(f"unknown option {name!r} for corpus kind {kind!r} (accepted: {accepted})")
        if isinstance(value, bool) or not isinstance(value, int) or value < MIN_CHUNK_CHARS:
            raise CorpusError(
                f"option {name!r} for corpus kind {kind!r} must be an integer >= {MIN_CHUNK_CHARS}, "
                f"got {value!r}"
            )
        resolved[name] = value
    return resolved
