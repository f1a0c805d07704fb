"""What only the indexer may do, asked of any replica: a planned migration is refused elsewhere,
naming the replica that holds the lease; a rebuild request is forwarded to it through the log."""

from __future__ import annotations

from collections.abc import Callable

from semsearch.errors import FailedPrecondition
from semsearch.lifecycle.migration_status import Migrations, MigrationStatus


class IndexerOnlyMigrations:
    """The migrator of this replica, usable only while this replica holds the indexer lease."""

    def __init__(self, migrator: Migrations, leading: Callable[[], bool], holder: Callable[[], str]) -> None:
        self._migrator = migrator
        self._leading = leading
        self._holder = holder

    @property
    def status(self) -> MigrationStatus | None:
        return self._migrator.status

    def _check(self) -> None:
        if not self._leading():
            holder = self._holder()
            raise FailedPrecondition(
                "NOT_THE_INDEXER",
                f"migrations run on the replica that holds the indexer lease ({holder}); ask it",
                holder=holder,
            )

    async def start(self, target: str, reason: str) -> MigrationStatus:
        self._check()
        return await self._migrator.start(target, reason)

    async def cancel(self, reason: str) -> MigrationStatus:
        self._check()
        return await self._migrator.cancel(reason)
