"""`semsearch watch` against a real server and the real proxy, rendered at a fixed width.

The follower and the renderer are the ones the command runs; the screen is drawn after every change,
exactly as the live view redraws it, into a 120-column console. A held provider batch keeps one
rebuild in flight so its progress bar can be seen, without relying on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from semsearch.api.v1 import admin_pb2
from semsearch.app import running
from semsearch.config import with_overrides
from semsearch.console.follow import Follower
from semsearch.console.output import Output, render_text
from semsearch.console.session import Session
from semsearch.console.watch_render import render_watch
from semsearch.console.watch_view import WatchView
from semsearch.proxy.launcher import ProxyProcess
from semsearch_client import AsyncSemsearchClient, Backoff
from tests.service.test_cli import semsearch_process
from tests.support.corpora import fixture_chunks
from tests.support.server import Service, fixture_config
from tests.support.waiting import wait_all_ready

WIDTH = 120
NAMES = ("runbooks", "eips", "specs", "examples")
RUNBOOKS = {chunk.text for (index, _), chunk in fixture_chunks().items() if index == "runbooks"}
SWITCH_REASON = "embedding space changed: hash-v1/384 -> hash-v2/384"


class HeldBatch(httpx.AsyncBaseTransport):
    """Passes every request to the real provider, except that, once armed, the second batch of
    runbooks waits until released: that rebuild stays REBUILDING with part of its chunks done (the
    indexes rebuild together, so the batches of several reach the provider in no fixed order)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.armed = False
        self.batches = 0
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content or b"{}").get("input", [])
        if self.armed and len(texts) > 1 and set(texts[:-1]) <= RUNBOOKS:
            self.batches += 1
            if self.batches == 2:
                self.held.set()
                await self.release.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Screen:
    """Every frame the watch view would draw, as text at a fixed width."""

    def __init__(self, view: WatchView) -> None:
        self.view = view
        self.frames: list[str] = []
        self._drawn = asyncio.Event()
        self._cursor = 0  # frames before it belong to earlier steps of the story

    def draw(self) -> None:
        self.frames.append(render_text(render_watch(self.view, time.time(), events=20), WIDTH))
        self._drawn.set()

    async def until(self, condition: Callable[[str], bool], timeout: float = 60) -> str:
        """The first frame after the one the previous ``until`` returned for which ``condition`` holds."""
        async with asyncio.timeout(timeout):
            while True:
                for number in range(self._cursor, len(self.frames)):
                    if condition(self.frames[number]):
                        self._cursor = number + 1
                        return self.frames[number]
                self._cursor = len(self.frames)
                self._drawn.clear()
                await self._drawn.wait()


def row(frame: str, name: str) -> str:
    """The table row of index ``name`` in a rendered frame ('' if absent)."""
    return next((line for line in frame.splitlines() if line.startswith(f"│ {name} ")), "")


def all_rows(frame: str, *needles: str) -> bool:
    return all(all(needle in row(frame, name) for needle in needles) for name in NAMES)


def partial_progress(frame: str) -> bool:
    match = re.search(r"^runbooks\s+━+─*\s+(\d+)/13 chunks", frame, re.MULTILINE)
    return match is not None and 0 < int(match.group(1)) < 13


@contextlib.asynccontextmanager
async def following(port: int, backoff: Backoff | None = None) -> AsyncIterator[Screen]:
    """Run the command's follower against 127.0.0.1:``port``, drawing a frame on every change."""
    target = f"127.0.0.1:{port}"
    async with AsyncSemsearchClient(target, timeout=10.0) as client:
        session = Session(target, 10.0, client, Output(io.StringIO(), io.StringIO()))
        view = WatchView(target)
        screen = Screen(view)
        follower = Follower(session, view, on_change=screen.draw, backoff=backoff, poll_seconds=0.05)
        task = asyncio.create_task(follower.run())
        try:
            yield screen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_watch_renders_a_model_switch_parked_rebuilding_with_progress_then_ready_in_the_new_space(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    gate = HeldBatch()
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=gate)
    async with following(service.app.port) as screen:
        first = await screen.until(lambda f: all_rows(f, "READY", "hash-v1/384@") and "provider hash-v1" in f)
        assert "● live (message 1)" in first and "no events yet" in first

        gate.armed = True
        await hash_proxy.switch_model("hash-v2")
        service.app.manager.wake("test: model switched")

        parked = await screen.until(lambda f: all_rows(f, "PARKED"))
        assert all_rows(parked, "hash-v1/384@")  # parked indexes still name the space they were built in
        await asyncio.wait_for(gate.held.wait(), 60)
        rebuilding = await screen.until(partial_progress)
        assert "REBUILDING" in row(rebuilding, "runbooks") and "━" in rebuilding
        gate.release.set()

        done = await screen.until(lambda f: all_rows(f, "READY", "hash-v2/384@") and "provider hash-v2" in f)

    print(f"\n{rebuilding}\n{done}")  # what a user sees mid-rebuild and after it, in the test log
    assert not partial_progress(done) and "chunks" not in done  # no bar once nothing rebuilds
    log = done[done.index("events (latest") :]
    for name in NAMES:
        assert re.search(rf"{name}\s+READY → PARKED\s+{re.escape(SWITCH_REASON)}", log), name
        assert re.search(rf"{name}\s+PARKED → REBUILDING\s+rebuilding in hash-v2/384", log), name
        assert re.search(rf"{name}\s+REBUILDING → READY\s+rebuilt  gen 2", log), name
    assert all(row(done, name).split("│")[5].strip() == "2" for name in NAMES)  # GEN


async def test_watch_resubscribes_with_backoff_when_the_server_restarts(hash_proxy: ProxyProcess) -> None:
    config = fixture_config(hash_proxy.url)
    first = running(config)
    app = await first.__aenter__()
    stopped = False
    try:
        await wait_all_ready(app.manager)
        async with following(app.port, backoff=Backoff(initial=0.05, maximum=0.2)) as screen:
            await screen.until(lambda f: "● live" in f and all_rows(f, "READY"))
            await first.__aexit__(None, None, None)  # a graceful stop ends every stream
            stopped = True
            broken = await screen.until(lambda f: "○ reconnecting…" in f)
            assert "stream broken: " in broken  # ended, or turned away by the draining server
            await screen.until(lambda f: "connection refused" in f and "failed)" in f)  # still trying
            again = with_overrides(config, server__listen=f"127.0.0.1:{app.port}")
            async with running(again) as second:
                await wait_all_ready(second.manager)
                back = await screen.until(lambda f: "● live" in f and all_rows(f, "READY"))
    finally:
        if not stopped:
            await first.__aexit__(None, None, None)
    assert "fresh snapshot of 4 indexes" in back
    assert back.count("stream broken") == 1  # one break, however many attempts it took


async def test_watch_json_streams_one_message_per_line_and_ctrl_c_exits_0(service: Service) -> None:
    process = await semsearch_process("watch", "--json", "--target", f"127.0.0.1:{service.app.port}")
    try:
        assert process.stdout is not None
        first = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert first["sequence"] == "1" and {ix["name"] for ix in first["snapshot"]["indexes"]} == set(NAMES)
        await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="json test"))
        second = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert second["sequence"] == "2"
        assert second["event"]["index"] == "eips" and second["event"]["reason"] == "reindexed: json test"
        assert second["event"]["current"]["generation"] == "2"
        process.send_signal(2)  # SIGINT: how a person stops a watch
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    assert "Traceback" not in (await process.stderr.read()).decode()
