"""The lifecycle and migration suites again, each server on the postgres backend (one replica: it
holds the indexer lease, writes every change to the shared log and serves from memory)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tests.support.server as support_server
from semsearch.proxy.launcher import ProxyProcess
from tests.service.conftest import two_models  # noqa: F401 (a fixture)
from tests.service.test_lifecycle import *  # noqa: F403 - the same tests, collected here on postgres
from tests.service.test_migration_swap import *  # noqa: F403
from tests.support.server import Service, fixture_config

# The shared log is the stream's source on a replica: events published on a server's own bus
# (this test's way to flood a subscriber) reach streams only through the database, paced by it.
# The feed's lag handling is the same EventBus (tests/unit/lifecycle/test_events.py).
test_a_subscriber_that_falls_behind_gets_a_fresh_snapshot_without_gaps = None
# The real-model migration runs minutes of e5 and MiniLM: the hash-model migrations above already
# run the migration's every step on postgres.
test_e5_small_to_minilm_under_load_with_no_failed_search = None


@pytest.fixture(autouse=True)
def on_postgres(pg_dsn: str) -> Iterator[None]:
    support_server.DEFAULT_STORE = {"backend": "postgres", "dsn": pg_dsn, "poll_seconds": 0.2}
    try:
        yield
    finally:
        support_server.DEFAULT_STORE = None


@pytest.fixture
async def service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    started: Service = await make_service(fixture_config(hash_proxy.url))
    return started
