"""Opening the shared store of a deployment of several replicas ([store] backend = "postgres").

A bad DSN or an unreachable database stops start-up with one line naming the key (exit code 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from semsearch.config import ConfigError, StoreConfig
from semsearch.logs import event
from semsearch.replication.protocol import Lease, SharedLog
from semsearch.store import GenerationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    store: GenerationStore
    log: SharedLog
    lease: Lease


@contextlib.asynccontextmanager
async def open_shared(config: StoreConfig, keep_spaces: int = 3) -> AsyncIterator[Shared | None]:
    """None with the local backend; else the store, the log and the lease, closed at the end."""
    if config.backend != "postgres":
        yield None
        return
    # Only a deployment of replicas loads the database driver.
    import psycopg

    from semsearch.replication.postgres import PostgresLease, PostgresSharedLog
    from semsearch.store.embedded import EmbeddedPostgres
    from semsearch.store.postgres import PostgresStore, StoreUnavailable

    async with contextlib.AsyncExitStack() as stack:
        dsn = config.dsn
        if config.embedded:
            server = EmbeddedPostgres(Path(config.data_dir))
            dsn = await asyncio.to_thread(server.start)
            stack.callback(server.stop)
            event(log, "embedded_postgres_started", data_dir=config.data_dir)
        key = "[store].embedded" if config.embedded else "[store].dsn"
        try:
            store = await asyncio.to_thread(
                PostgresStore.open, dsn, pool_size=config.pool_size, keep_spaces=keep_spaces
            )
            stack.callback(store.close)
            shared_log = await asyncio.to_thread(PostgresSharedLog, dsn, config.pool_size)
            stack.callback(shared_log.close)
        except StoreUnavailable as exc:
            raise ConfigError(f"{key}: {exc}") from None
        except psycopg.Error as exc:
            raise ConfigError(f"{key}: cannot use the database: {_first_line(exc)}") from None
        lease = PostgresLease(dsn)
        stack.callback(lease.close)
        yield Shared(store, shared_log, lease)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
