"""`semsearch status` right after a warm start: every index READY, the built space not recorded yet.

A warm start builds every index from the cache and swaps each in (READY) before the watcher's
closing probe; only after that probe is the built space recorded. The test holds that probe, so the
window stays open, and runs the real command in it: it must not say the provider serves another
space. It also counts what the warm start asked the provider: the space probes and nothing else.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from semsearch.app import running
from semsearch.lifecycle import IndexManager
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import REPO
from tests.support.faults import is_probe
from tests.support.server import fixture_config
from tests.support.waiting import wait_all_ready


class HoldClosingProbe(httpx.AsyncBaseTransport):
    """The real provider, except that a probe sent once every index is READY waits for ``release``."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.manager: IndexManager | None = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        manager = self.manager
        if manager is not None and manager.all_ready() and is_probe(request) and not self.release.is_set():
            self.entered.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def status(port: int) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        "status",
        "--target",
        f"127.0.0.1:{port}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_status_after_a_warm_start_agrees_while_the_closing_probe_runs(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    config = fixture_config(hash_proxy.url, cache={"path": str(tmp_path / "cache.sqlite")})
    async with running(config) as app:  # the cold start fills the cache
        await wait_all_ready(app.manager)
        await asyncio.wait_for(app.watcher.settled.wait(), 60)

    held = HoldClosingProbe()
    async with running(config, provider_transport=held) as app:
        held.manager = app.manager
        await asyncio.wait_for(held.entered.wait(), 60)
        assert app.manager.all_ready() and app.manager.built_space is None  # the window is open
        assert app.manager.provider_space is not None
        space = app.manager.provider_space.describe()
        during = await status(app.port)
        lines = during.splitlines()
        indexes = [line.split() for line in lines[1 : 1 + len(app.manager.slots)]]
        assert {row[2] for row in indexes} == {"READY"}, during
        assert "another space" not in during, during
        assert "every index is READY in the provider's space" in during, during

        held.release.set()
        await asyncio.wait_for(app.watcher.settled.wait(), 60)
        after = await status(app.port)
        assert f"built space     {space}@" in after and "every index is READY" not in after, after
        assert app.manager.built_space is app.manager.provider_space

    # A warm start asks the provider nothing but the space probes: four to learn the space (as a
    # document and as a query, twice) and two more, the closing probe, before it is recorded.
    assert all(is_probe(request) for request in held.requests)
    assert len(held.requests) == 6
