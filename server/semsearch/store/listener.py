"""LISTEN on a connection of its own: what replicas wait on instead of polling.

Notifications are delivered at the commit of the transaction that sent them; one that arrives
between two ``wait`` calls stays in the connection until the next one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Notice:
    channel: str
    payload: str


class Listener:
    """Not thread-safe: one thread waits on it at a time."""

    def __init__(self, dsn: str, channels: Sequence[str]) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        for channel in channels:
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait(self, timeout: float) -> list[Notice]:
        """The notifications that arrive within ``timeout`` seconds (returns at the first), plus
        any already waiting; [] when none came."""
        received = [Notice(n.channel, n.payload) for n in self._conn.notifies(timeout=timeout, stop_after=1)]
        if received:
            received += [Notice(n.channel, n.payload) for n in self._conn.notifies(timeout=0)]
        return received

    def close(self) -> None:
        self._conn.close()


def generation_notice(payload: str) -> tuple[str, int]:
    """The (index, generation) of a ``semsearch_generations`` notification."""
    notice = json.loads(payload)
    return str(notice["index"]), int(notice["generation"])
