"""The [store] section: which backend, where its database is, and every bad value named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semsearch.config import ConfigError, StoreConfig, parse_config

BASE = Path("/etc/semsearch")
INDEX = [{"name": "docs", "kind": "markdown", "path": "docs"}]


def _store(section: dict[str, Any], env: dict[str, str] | None = None) -> StoreConfig:
    return parse_config({"store": section, "index": INDEX}, BASE, env=env or {}).store


def test_the_default_is_the_local_backend() -> None:
    store = _store({})
    assert (store.backend, store.dsn, store.embedded) == ("local", "", False)
    assert store.data_dir == str(BASE / ".semsearch" / "postgres")


def test_postgres_by_dsn_by_variable_or_embedded() -> None:
    assert _store({"backend": "postgres", "dsn": "host=db"}).dsn == "host=db"
    by_env = _store({"backend": "postgres", "dsn_env": "PG_DSN"}, {"PG_DSN": "host=db2"})
    assert by_env.dsn == "host=db2"
    embedded = _store({"backend": "postgres", "embedded": True, "data_dir": "pg", "embedded_port": 5433})
    assert (embedded.data_dir, embedded.embedded_port) == (str(BASE / "pg"), 5433)


def test_environment_overrides_reach_the_store() -> None:
    env = {
        "SEMSEARCH_STORE_BACKEND": "postgres",
        "SEMSEARCH_STORE_DSN": "host=db",
        "SEMSEARCH_STORE_POOL_SIZE": "8",
    }
    store = _store({}, env)
    assert (store.backend, store.dsn, store.pool_size) == ("postgres", "host=db", 8)


@pytest.mark.parametrize(
    ("section", "env", "message"),
    [
        ({"backend": "mysql"}, {}, r"\[store\]\.backend: expected one of local, postgres, got 'mysql'"),
        ({"backend": "postgres"}, {}, r"\[store\]\.dsn: the postgres backend needs dsn, dsn_env or embedded"),
        (
            {"backend": "postgres", "dsn": "host=db", "embedded": True},
            {},
            r"\[store\]\.embedded: .* not both",
        ),
        (
            {"backend": "postgres", "dsn": "host=db", "dsn_env": "X"},
            {"X": "y"},
            r"\[store\]: set dsn or dsn_env",
        ),
        ({"backend": "postgres", "dsn_env": "PG_DSN"}, {}, r"\[store\]\.dsn_env: .*PG_DSN is not set"),
        ({"dsn": "host=db"}, {}, r'\[store\]\.dsn: only used with backend = "postgres"'),
        ({"embedded": True}, {}, r'\[store\]\.embedded: only used with backend = "postgres"'),
        ({"backend": "postgres", "dsn": "host=db", "pool_size": 1}, {}, r"\[store\]\.pool_size: must be in"),
        ({"backend": "postgres", "embedded": True, "embedded_port": 70000}, {}, r"\[store\]\.embedded_port"),
        (
            {"backend": "postgres", "dsn": "h", "poll_seconds": 0},
            {},
            r"\[store\]\.poll_seconds: must be positive",
        ),
        ({"pool_size": "four"}, {}, r"\[store\]\.pool_size: expected int"),
        ({"database": "x"}, {}, r"\[store\]: unknown key 'database'"),
    ],
)
def test_a_bad_store_is_refused_naming_the_key(
    section: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _store(section, env)
