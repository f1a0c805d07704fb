"""The embedding pipeline over a real server: warm restarts, the cache across a swap, edited sources."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.app import running
from semsearch.embeddings import PROBE_TEXT
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import FIXTURE_CORPORA, fixture_chunks
from tests.support.faults import FaultTransport
from tests.support.server import Service, fixture_config
from tests.support.waiting import wait_all_ready, wait_for

TOTAL_CHUNKS = len(fixture_chunks())


def inputs(faults: FaultTransport) -> list[str]:
    """Every chunk text the server sent to the provider to build indexes (no probes, no queries)."""
    requests = [json.loads(body) for body in faults.bodies]
    return [t for r in requests if r.get("input_type") == "document" for t in r["input"] if t != PROBE_TEXT]


async def start_and_stop(config: Any, faults: FaultTransport) -> None:
    async with running(config, provider_transport=faults) as app:
        await wait_all_ready(app.manager)
        await asyncio.wait_for(app.watcher.settled.wait(), 60)


async def test_a_warm_restart_embeds_nothing_and_a_corrupt_cache_is_rebuilt(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    cache = tmp_path / "embeddings.sqlite"
    config = fixture_config(hash_proxy.url, cache={"path": str(cache)})
    cold = FaultTransport(httpx.AsyncHTTPTransport())
    await start_and_stop(config, cold)
    assert len(inputs(cold)) == TOTAL_CHUNKS

    before = await hash_proxy.health()
    warm = FaultTransport(httpx.AsyncHTTPTransport())
    await start_and_stop(config, warm)
    after = await hash_proxy.health()
    assert inputs(warm) == []  # only the space probes reached the provider
    probes = after["embedding_requests"] - before["embedding_requests"]
    assert (
        after["embedded_inputs"] - before["embedded_inputs"] == probes == warm.count
    )  # counted at the proxy

    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    cache.write_bytes(b"\x00garbage" * 512)
    damaged = FaultTransport(httpx.AsyncHTTPTransport())
    await start_and_stop(config, damaged)
    assert len(inputs(damaged)) == TOTAL_CHUNKS
    assert list(tmp_path.glob("embeddings.sqlite.corrupt-*"))


async def test_the_cache_never_hands_back_vectors_from_before_a_same_name_swap(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    config = fixture_config(
        hash_proxy.url, watcher={"interval_seconds": 0.2}, cache={"path": str(tmp_path / "c.sqlite")}
    )
    service: Service = await make_service(config, transport=faults)
    embedded_cold = len(inputs(faults))
    await hash_proxy.switch_model("hash-v2", serve_as="hash-v1")
    manager = service.app.manager
    await wait_for(
        manager, lambda: manager.all_ready() and all(s.generation == 2 for s in manager.statuses())
    )
    assert len(inputs(faults)) == 2 * embedded_cold  # everything embedded again: no cache hit
    response = await service.search.Search(search_pb2.SearchRequest(query="blob fee market", top_k=5))
    chunks = fixture_chunks()
    for hit in response.hits:
        vectors = hash_embed(["blob fee market", chunks[(hit.index, hit.chunk_id)].text], "hash-v2")
        assert hit.dense_score == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-4)


async def test_an_edited_document_is_rebuilt_in_the_background_embedding_only_its_chunks(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    corpus = tmp_path / "runbooks"
    shutil.copytree(FIXTURE_CORPORA / "markdown", corpus)
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    config = fixture_config(
        hash_proxy.url,
        watcher={"interval_seconds": 0.1},
        cache={"path": str(tmp_path / "c.sqlite")},
        indexes=[{"name": "runbooks", "kind": "markdown", "path": str(corpus)}],
    )
    service: Service = await make_service(config, transport=faults)
    manager = service.app.manager
    embedded_before = len(inputs(faults))

    stop = asyncio.Event()
    answered: list[int] = []

    async def search_forever() -> None:
        while not stop.is_set():
            response = await service.search.Search(
                search_pb2.SearchRequest(query="disk full", indexes=["runbooks"])
            )
            answered.append(len(response.hits))
            await asyncio.sleep(0)

    load = asyncio.create_task(search_forever())
    target = next(p for p in sorted(corpus.rglob("*.md")) if "disk" in p.name)
    target.write_text(
        target.read_text() + "\n## Afterwards\n\nWrite a short incident note about the full disk.\n"
    )
    await wait_for(manager, lambda: manager.status("runbooks").generation == 2, timeout=30)
    stop.set()
    await load  # no search failed: an error would have raised here

    new_texts = inputs(faults)[embedded_before:]
    changed = [c for d in manager.slots["runbooks"].documents if d.source == target.name for c in d.chunks]
    assert 0 < len(new_texts) <= len(changed)
    assert all("incident note" in t or any(t == c.text for c in changed) for t in new_texts), new_texts
    assert answered and all(n > 0 for n in answered)
    response = await service.search.Search(
        search_pb2.SearchRequest(
            query="Write a short incident note about the full disk", indexes=["runbooks"]
        )
    )
    assert response.hits[0].section == "Afterwards" or "incident note" in response.hits[0].snippet


async def test_a_corpus_that_stops_loading_keeps_the_last_good_index_serving(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    corpus = tmp_path / "runbooks"
    shutil.copytree(FIXTURE_CORPORA / "markdown", corpus)
    config = fixture_config(
        hash_proxy.url,
        watcher={"interval_seconds": 0.1},
        indexes=[{"name": "runbooks", "kind": "markdown", "path": str(corpus)}],
    )
    service: Service = await make_service(config)
    manager = service.app.manager
    broken = corpus / "broken.md"
    broken.write_text("---\nname: [unclosed\n---\n# Broken\n")
    await wait_for(
        manager, lambda: "sources do not load" in manager.status("runbooks").last_error, timeout=30
    )
    status = manager.status("runbooks")
    assert status.generation == 1 and status.state.value == "READY"
    response = await service.search.Search(search_pb2.SearchRequest(query="disk", indexes=["runbooks"]))
    assert response.hits
    with pytest.raises(grpc.aio.AioRpcError):
        await service.search.Search(search_pb2.SearchRequest(query="disk", indexes=["nope"]))
    broken.unlink()  # fixed: the same documents as before load again, and the error goes away
    await wait_for(manager, lambda: not manager.status("runbooks").last_error, timeout=30)
    assert manager.status("runbooks").generation == 1


async def test_a_cache_that_cannot_be_opened_never_stops_the_service(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    config = fixture_config(hash_proxy.url, cache={"path": str(blocker / "embeddings.sqlite")})
    service: Service = await make_service(config)  # every index READY, without a cache
    assert service.app.manager.cache is None
    response = await service.search.Search(search_pb2.SearchRequest(query="disk"))
    assert response.hits


async def test_a_cache_that_breaks_mid_run_turns_off_and_rebuilds_still_complete(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    service: Service = await make_service(
        fixture_config(hash_proxy.url, cache={"path": str(directory / "embeddings.sqlite")})
    )
    manager = service.app.manager
    cache = manager.cache
    assert cache is not None and cache.count() == TOTAL_CHUNKS
    # Its connection breaks and the directory is replaced by a file: the cache cannot come back.
    cache._db.close()  # type: ignore[union-attr]
    shutil.rmtree(directory)
    directory.write_text("not a directory")
    await service.admin.Reindex(admin_pb2.ReindexRequest(reason="test"))
    await wait_for(manager, lambda: all(s.generation == 2 for s in manager.statuses()), timeout=30)
    assert manager.all_ready() and not cache.enabled
    assert all(not s.last_error for s in manager.statuses())
