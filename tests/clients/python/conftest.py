"""A READY server on the fixture corpora and clients talking to it over loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from semsearch.proxy.launcher import ProxyProcess
from semsearch_client import AsyncSemsearchClient
from tests.support.server import Service, fixture_config


@pytest.fixture
async def service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    started: Service = await make_service(fixture_config(hash_proxy.url))
    return started


@pytest.fixture
def target(service: Service) -> str:
    return f"127.0.0.1:{service.app.port}"


@pytest.fixture
async def client(target: str) -> AsyncIterator[AsyncSemsearchClient]:
    async with AsyncSemsearchClient(target) as opened:
        yield opened


@pytest.fixture
def dead_target() -> str:
    """An address where nothing listens: a port the kernel just handed out and took back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
