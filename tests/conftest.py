"""Shared fixtures: paths, the real bundled provider, and a real semsearch server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from semsearch import logs
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from tests.support.server import service_factory

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


@pytest.fixture(autouse=True, scope="session")
def structured_logs() -> None:
    """Our own one-line format on stderr, so a failing test shows every event with its fields."""
    logs.configure("info", "text")


@pytest.fixture
def shared_corpora() -> Path:
    """The real public corpora beside the checkout; tests that need them skip where they are absent."""
    if not SHARED_CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_CORPORA} (they sit beside the checkout in CI)")
    return SHARED_CORPORA


@pytest.fixture
async def hash_proxy() -> AsyncIterator[ProxyProcess]:
    """A real `semsearch proxy` process serving the deterministic hash-v1 model."""
    async with start_proxy(model="hash-v1") as proxy:
        yield proxy


@pytest.fixture
async def make_service() -> AsyncIterator[Any]:
    """Factory for real servers (config, optional fault transport); every one is stopped afterwards."""
    async for start in service_factory():
        yield start
