"""Every GenerationStore implementation runs the same contract tests (test_contract.py).

A store is built by a factory from the test's request and tmp_path; PostgreSQL's asks for a fresh
database on the session's real server (tests/support/postgres.py), which starts only when a test
needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from semsearch.embeddings.cache import EmbeddingCache
from semsearch.store import GenerationStore, LocalStore
from semsearch.store.postgres import PostgresStore
from tests.support.postgres import postgres_dsn, postgres_server  # noqa: F401 (fixtures)

StoreFactory = Callable[[pytest.FixtureRequest, Path], GenerationStore]


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> GenerationStore:
    return LocalStore(EmbeddingCache(tmp_path / "cache.sqlite"))


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> GenerationStore:
    return PostgresStore.open(request.getfixturevalue("postgres_dsn"), pool_size=2)


STORE_FACTORIES: dict[str, StoreFactory] = {"local": _local, "postgres": _postgres}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GenerationStore]:
    made = STORE_FACTORIES[request.param](request, tmp_path)
    try:
        yield made
    finally:
        made.close()
