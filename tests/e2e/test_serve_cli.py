"""What `make run` does: `semsearch serve` on the shipped config, the bundled e5-small provider, the docs.

Runs the real command in its own process, waits for READY on the watch stream, asks questions about
the documentation, and stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc, types_pb2
from tests.conftest import REPO


async def wait_until_all_ready(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    states: dict[str, int] = {}
    async for message in admin.WatchIndexes(admin_pb2.WatchIndexesRequest()):
        if message.WhichOneof("payload") == "snapshot":
            states = {ix.name: ix.state for ix in message.snapshot.indexes}
        else:
            states[message.event.index] = message.event.state
        if states and set(states.values()) == {types_pb2.INDEX_STATE_READY}:
            return


@pytest.mark.slow
@pytest.mark.timeout(900)  # a cold start embeds every docs page with the real e5-small model on the CPU
async def test_serve_with_the_default_config_answers_questions_about_the_docs() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        "serve",
        "--config",
        str(REPO / "config" / "default.toml"),
        "--listen",
        "127.0.0.1:0",
        cwd=REPO,
        # The shipped config pins the bundled provider's port (8089) for `make run`; a test takes a free one.
        env={**os.environ, "SEMSEARCH_EMBEDDINGS_PROXY_PORT": "0"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group: a failed test stops its bundled provider too
    )
    try:
        assert process.stdout is not None
        address = ""
        async with asyncio.timeout(120):
            while not address:
                line = (await process.stdout.readline()).decode()
                assert line, "semsearch serve exited before serving"
                if match := re.search(r"serving on (127\.0\.0\.1:\d+)", line):
                    address = match.group(1)
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(wait_until_all_ready(admin_pb2_grpc.AdminServiceStub(channel)), 780)
            search = search_pb2_grpc.SearchServiceStub(channel)
            cases = {
                "how do I swap the embedding model safely?": "switching-the-embedding-model",
                "an index never comes back from PARKED, what should I check?": "index-stays-parked",
            }
            for question, document in cases.items():
                response = await search.Search(search_pb2.SearchRequest(query=question, indexes=["runbooks"]))
                assert response.query_space.model == "e5-small"
                assert response.hits[0].document_id == document, [h.document_id for h in response.hits]
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
