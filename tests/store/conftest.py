"""Every GenerationStore implementation runs the same contract tests (test_contract.py).

A store is built by a factory that receives pytest's tmp_path; implementations that need a server
(PostgreSQL) add their factory here, behind a fixture that starts and stops that server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.embeddings.cache import EmbeddingCache
from semsearch.store import GenerationStore, LocalStore


def _local(tmp_path: Path) -> GenerationStore:
    return LocalStore(EmbeddingCache(tmp_path / "cache.sqlite"))


STORE_FACTORIES = {"local": _local}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GenerationStore]:
    made = STORE_FACTORIES[request.param](tmp_path)
    try:
        yield made
    finally:
        made.close()
