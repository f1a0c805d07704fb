"""The fixture corpora as the server sees them, loaded here too so tests can recompute anything."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from semsearch.corpus import Chunk, load_corpus

REPO = Path(__file__).resolve().parents[2]
FIXTURE_CORPORA = REPO / "tests" / "fixtures" / "corpora"
FIXTURE_INDEXES = [
    {"name": "runbooks", "kind": "markdown", "path": str(FIXTURE_CORPORA / "markdown")},
    {"name": "eips", "kind": "eip", "path": str(FIXTURE_CORPORA / "eip")},
    {"name": "specs", "kind": "spec", "path": str(FIXTURE_CORPORA / "spec")},
    {"name": "examples", "kind": "examples", "path": str(FIXTURE_CORPORA / "examples")},
]


@cache
def fixture_chunks() -> dict[tuple[str, str], Chunk]:
    """(index name, chunk id) -> chunk, for every fixture index."""
    chunks = {}
    for ix in FIXTURE_INDEXES:
        for doc in load_corpus(ix["kind"], Path(ix["path"]), {}):
            for chunk in doc.chunks:
                chunks[(ix["name"], chunk.id)] = chunk
    return chunks
