"""open_store: the [store] section turned into a store, and a database that cannot be used turned
into one configuration error naming the key."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from semsearch.config import Config, ConfigError, parse_config
from semsearch.embeddings.cache import EmbeddingCache
from semsearch.store import LocalStore, open_store
from semsearch.store.postgres import PostgresStore
from tests.store.test_contract import SPACE, _documents, _vectors
from tests.store.test_embedded import _processes_in

UNREACHABLE = "host=127.0.0.1 port=1 dbname=semsearch user=semsearch connect_timeout=5"


def _config(tmp_path: Path, store: dict[str, Any], env: dict[str, str] | None = None, **cache: Any) -> Config:
    raw = {
        "store": store,
        "cache": {"path": str(tmp_path / "cache.sqlite"), **cache},
        "index": [{"name": "docs", "kind": "markdown", "path": str(tmp_path)}],
    }
    return parse_config(raw, tmp_path, env=env or {})


def _round_trip(store: Any) -> None:
    store.put_generation("docs", 1, SPACE, _documents(1), _vectors(2, 1))
    store.make_current("docs", 1)
    np.testing.assert_array_equal(store.read_generation("docs", 1).vectors, _vectors(2, 1))


def test_the_local_backend_is_the_default(tmp_path: Path) -> None:
    store = open_store(_config(tmp_path, {}))
    try:
        assert isinstance(store, LocalStore)
        assert isinstance(store.cache, EmbeddingCache)
        _round_trip(store)
    finally:
        store.close()
    uncached = open_store(_config(tmp_path, {}, path=""))
    assert isinstance(uncached, LocalStore) and uncached.cache is None


def test_postgres_by_dsn_and_by_dsn_env(tmp_path: Path, postgres_dsn: str) -> None:
    for store_section, env in (
        ({"backend": "postgres", "dsn": postgres_dsn}, {}),
        ({"backend": "postgres", "dsn_env": "SEMSEARCH_TEST_DSN"}, {"SEMSEARCH_TEST_DSN": postgres_dsn}),
    ):
        store = open_store(_config(tmp_path, store_section, env, keep_spaces=5))
        try:
            assert isinstance(store, PostgresStore)
            assert store.cache.keep_spaces == 5
            store.put_generation("docs", 1, SPACE, _documents(1), _vectors(2, 1))
        finally:
            store.close()


@pytest.mark.parametrize(
    ("store_section", "env", "message"),
    [
        ({"dsn": UNREACHABLE}, {}, r"^\[store\]\.dsn: cannot use the database: .*port 1 failed"),
        ({"dsn_env": "DSN"}, {"DSN": UNREACHABLE}, r"^\[store\]\.dsn_env: cannot use the database"),
        ({"dsn": "not a connection string"}, {}, r"^\[store\]\.dsn: invalid connection string: "),
        (
            {"dsn": "postgresql://semsearch@127.0.0.1:1/x?nonsense=1"},
            {},
            r"^\[store\]\.dsn: invalid connection",
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_a_config_error(
    tmp_path: Path, store_section: dict[str, str], env: dict[str, str], message: str
) -> None:
    config = _config(tmp_path, {"backend": "postgres", **store_section}, env)
    with pytest.raises(ConfigError, match=message) as raised:
        open_store(config)
    assert "\n" not in str(raised.value)


def test_a_database_too_new_for_this_code_is_refused(tmp_path: Path, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version, description) VALUES (999, 'from the future')")
    with pytest.raises(ConfigError, match=r"^\[store\]\.dsn: the database schema is at version 999"):
        open_store(_config(tmp_path, {"backend": "postgres", "dsn": postgres_dsn}))


@pytest.mark.slow
def test_embedded_starts_with_the_store_and_stops_with_it(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="semsearch-test-embedded-"))  # a folder nobody can enter
    try:
        store = open_store(
            _config(tmp_path, {"backend": "postgres", "embedded": True, "data_dir": str(folder)})
        )
        try:
            assert isinstance(store, PostgresStore)
            assert _processes_in(folder)
            _round_trip(store)
        finally:
            store.close()
        assert _processes_in(folder) == set()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the embedded server to another user")
def test_an_embedded_server_that_cannot_start_is_a_config_error(tmp_path: Path) -> None:
    closed = tmp_path / "data"  # pytest's tmp_path is root's alone: nobody cannot enter it
    config = _config(tmp_path, {"backend": "postgres", "embedded": True, "data_dir": str(closed)})
    with pytest.raises(ConfigError, match=r"^\[store\]\.embedded: .*cannot enter"):
        open_store(config)
