"""Service tests: a READY server over the four fixture corpora, embedded by the real proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from semsearch.proxy.launcher import ProxyProcess, start_proxy
from tests.support.hostile import Clients, hostile_server
from tests.support.server import Service, fixture_config


@pytest.fixture
async def service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    """A READY server on the fixture corpora, embedded by the real proxy's hash-v1 model."""
    started: Service = await make_service(fixture_config(hash_proxy.url))
    return started


@pytest.fixture
async def two_models() -> AsyncIterator[ProxyProcess]:
    """A real proxy serving hash-v1 and hash-v2 side by side, chosen by each request's model."""
    async with start_proxy(models=["hash-v1", "hash-v2"]) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def clients(request: pytest.FixtureRequest) -> Iterator[Clients]:
    """Hostile-input tests: one real server per module, driven through blocking stubs."""
    with hostile_server(request.module.__name__.rpartition(".")[2]) as started:
        yield started
