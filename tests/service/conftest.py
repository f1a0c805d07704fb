"""Service tests: a READY server over the four fixture corpora, embedded by the real proxy."""

from __future__ import annotations

from typing import Any

import pytest

from semsearch.proxy.launcher import ProxyProcess
from tests.support.server import Service, fixture_config


@pytest.fixture
async def service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    """A READY server on the fixture corpora, embedded by the real proxy's hash-v1 model."""
    started: Service = await make_service(fixture_config(hash_proxy.url))
    return started
