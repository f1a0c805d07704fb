"""Replica tests: a real PostgreSQL for the session, a fresh database for each test."""

from __future__ import annotations

import pytest

from tests.support.postgres import postgres_dsn, postgres_server  # noqa: F401 (fixtures)


@pytest.fixture
def pg_dsn(postgres_dsn: str) -> str:  # noqa: F811 (the fixture imported above)
    return postgres_dsn
