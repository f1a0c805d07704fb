"""The dangerous swap: e5-small → minilm, both 384-dimensional, under a running server and live searches.

Every hit of every search in the window is re-scored here with the model the response names; a hit
scored across the two spaces cannot match.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import search_pb2
from semsearch.config import parse_config
from semsearch.corpus import load_corpus
from semsearch.proxy.launcher import start_proxy
from tests.support.ops_docs import PARAPHRASES, write_docs
from tests.support.oracle import assert_scored_in
from tests.support.status import failure
from tests.support.waiting import wait_for


@pytest.mark.slow
async def test_e5_to_minilm_swap_heals_and_never_mixes(tmp_path: Path, make_service: Any) -> None:
    docs = write_docs(tmp_path / "docs")
    chunk_text = {c.id: c.text for d in load_corpus("markdown", docs, {}) for c in d.chunks}
    async with start_proxy(model="e5-small", startup_timeout=120) as proxy:
        config = parse_config(
            {
                "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
                "embeddings": {"url": proxy.url, "model": "e5-small", "batch_size": 4},
                "watcher": {"interval_seconds": 0.5, "backoff_base_seconds": 0.1, "backoff_cap_seconds": 0.5},
                "cache": {"path": str(tmp_path / "cache.sqlite")},
                "index": [{"name": "ops", "kind": "markdown", "path": str(docs)}],
            },
            tmp_path,
            env={},
        )
        service = await make_service(config)
        responses: list[tuple[str, search_pb2.SearchResponse]] = []
        refusals: list[str] = []
        stop = asyncio.Event()

        async def search_loop(worker: int) -> None:
            n = worker
            while not stop.is_set():
                question = PARAPHRASES[n % len(PARAPHRASES)][0]
                n += 1
                try:
                    response = await service.search.Search(search_pb2.SearchRequest(query=question, top_k=3))
                    responses.append((question, response))
                    await asyncio.sleep(0.02)  # steady load, leaving the rebuild room on 2 cores
                except grpc.aio.AioRpcError as exc:
                    info = failure(exc).error_info
                    assert info is not None and info.reason in {"INDEX_NOT_READY", "EMBEDDING_SPACE_CHANGED"}
                    refusals.append(info.reason)
                    await asyncio.sleep(0.05)

        for question, document in PARAPHRASES:
            before = await service.search.Search(search_pb2.SearchRequest(query=question))
            assert (before.query_space.model, before.hits[0].document_id) == ("e5-small", document)
        workers = [asyncio.create_task(search_loop(i)) for i in range(3)]
        try:
            await proxy.switch_model("minilm")
            manager = service.app.manager
            await wait_for(
                manager,
                lambda: manager.all_ready() and manager.status("ops").space.model == "minilm",
                timeout=240,
            )  # type: ignore[union-attr]
            await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.gather(*workers)
        for question, document in PARAPHRASES:
            after = await service.search.Search(search_pb2.SearchRequest(query=question))
            assert (after.query_space.model, after.hits[0].document_id) == ("minilm", document)

    assert {r.query_space.model for _, r in responses} <= {"e5-small", "minilm"}
    for question, response in responses:
        assert_scored_in(question, response, text_of=lambda hit: chunk_text[hit.chunk_id], tolerance=2e-3)
    print(f"\ne5-small -> minilm: {len(responses)} searches answered, {len(refusals)} refused")
