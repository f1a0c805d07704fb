"""The store the configuration asks for ([store] backend), opened and ready.

A store that cannot be opened (a bad DSN, an unreachable database, an embedded server that cannot
start) is a configuration error: one line naming the key, and ``semsearch serve`` exits with 2.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from semsearch.config import Config, ConfigError
from semsearch.embeddings.cache import EmbeddingCache
from semsearch.logs import event
from semsearch.store.local import LocalStore
from semsearch.store.protocol import GenerationStore

log = logging.getLogger(__name__)


def open_store(config: Config) -> GenerationStore:
    """Open the configured store; blocking (it may start a server and connect): call it from a
    worker thread. The caller closes it (which stops an embedded server)."""
    if config.store.backend == "postgres":
        return _open_postgres(config)
    return LocalStore(_local_cache(config))


def _local_cache(config: Config) -> EmbeddingCache | None:
    """The SQLite cache, or None when it is off or cannot be opened: it saves work, it is never a
    reason not to start."""
    if not config.cache.path:
        return None
    try:
        return EmbeddingCache(Path(config.cache.path), config.cache.keep_spaces)
    except (OSError, sqlite3.Error) as exc:
        event(log, "cache_unavailable", level=logging.ERROR, path=config.cache.path, error=str(exc))
        return None


def _open_postgres(config: Config) -> GenerationStore:
    # Only the postgres backend loads the database driver.
    from semsearch.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
    from semsearch.store.postgres import PostgresStore, StoreUnavailable

    store = config.store
    embedded = None
    if store.embedded:
        key = "[store].embedded"
        embedded = EmbeddedPostgres(Path(store.data_dir), store.embedded_port)
        try:
            dsn = embedded.start()
        except (EmbeddedPostgresError, OSError) as exc:
            raise ConfigError(f"{key}: {_one_line(exc)} (data_dir {store.data_dir})") from None
    else:
        key = "[store].dsn_env" if store.dsn_env else "[store].dsn"
        dsn = store.dsn
    try:
        return PostgresStore.open(
            dsn, pool_size=store.pool_size, keep_spaces=config.cache.keep_spaces, embedded=embedded
        )
    except StoreUnavailable as exc:
        if embedded is not None:
            embedded.stop()
        raise ConfigError(f"{key}: {exc}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
