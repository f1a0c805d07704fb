"""A real PostgreSQL (the embedded one, with pgvector) for the test session, and a fresh database
for each test.

The server starts once per test process, on 127.0.0.1 with a free port, without fsync (nothing in
it outlives the session), and stops at the end of the session; when this process is root it runs
as ``nobody`` (see ``semsearch.store.embedded``). Each test gets a database copied from a template
that already holds the schema, so a test costs a CREATE DATABASE, not a migration.

Use it from a conftest::

    from tests.support.postgres import postgres_dsn, postgres_server  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from semsearch.store.embedded import UNPRIVILEGED_USER, EmbeddedPostgres, EmbeddedPostgresError
from semsearch.store.schema import migrate

TEMPLATE = "semsearch_template"  # the schema applied, the vector extension in it
EMPTY = "template0"  # nothing at all: for tests of the migrations themselves


class TestPostgres:
    """One embedded server in a temporary folder (under /tmp, which ``nobody`` can enter)."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="semsearch-test-postgres-"))
        self.server = EmbeddedPostgres(self.folder, durable=False)
        self.start_seconds = 0.0

    def start(self) -> None:
        started = time.perf_counter()
        self.server.start()
        with psycopg.connect(self.server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        with psycopg.connect(self.server.dsn(TEMPLATE)) as conn:
            migrate(conn)
        self.start_seconds = time.perf_counter() - started

    def create_database(self, template: str = TEMPLATE) -> str:
        """A new database copied from ``template``; returns its name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.server.dsn("postgres"), autocommit=True) as admin:
            # FILE_COPY: a few ms for a small template, against a WAL record of every page.
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # a test may leave sessions open

    def dsn(self, database: str) -> str:
        return self.server.dsn(database)

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class _SessionServer:
    """The session's server, started by the first conftest fixture that asks for it and stopped
    when the last one lets it go (several conftests may import the fixtures)."""

    def __init__(self) -> None:
        self.server: TestPostgres | None = None
        self.users = 0
        self.guard = threading.Lock()

    def acquire(self) -> TestPostgres:
        with self.guard:
            if self.server is None:
                server = TestPostgres()
                try:
                    server.start()
                except (EmbeddedPostgresError, PermissionError) as exc:
                    server.stop()
                    _skip_if_environmental(exc)
                    raise
                self.server = server
            self.users += 1
            return self.server

    def release(self) -> None:
        with self.guard:
            self.users -= 1
            if self.users == 0 and self.server is not None:
                self.server.stop()
                self.server = None


_SESSION = _SessionServer()


def _skip_if_environmental(exc: BaseException) -> None:
    """Skip only where this machine cannot run PostgreSQL at all as CI does (root that cannot
    switch to an unprivileged user); every other failure fails the tests."""
    if os.geteuid() != 0:
        return
    if isinstance(exc, PermissionError) or f"the user {UNPRIVILEGED_USER!r}" in str(exc):
        pytest.skip(f"PostgreSQL cannot run here: as root it must run as {UNPRIVILEGED_USER!r}: {exc}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TestPostgres]:
    server = _SESSION.acquire()
    try:
        yield server
    finally:
        _SESSION.release()


@pytest.fixture
def postgres_dsn(postgres_server: TestPostgres) -> Iterator[str]:
    """A fresh database holding the schema, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        postgres_server.drop_database(name)
