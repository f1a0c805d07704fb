"""Crash safety, against real `semsearch serve` processes and real providers.

- ``kill -9`` in the middle of a rebuild: the durable cache stays intact (SQLite integrity, every
  vector the right length, finite and equal to what the provider gives for its text), and a restart
  on it serves every index again, embedding only what was not cached.
- A cache file that is garbage at start is moved aside; the service starts and serves.
- A corpus file that does not parse keeps only its own index PARKED (with the reason) while the
  others serve, and the index is built once the file is fixed; a corpus folder that does not exist
  is a configuration mistake that stops start-up naming the index.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc, types_pb2
from semsearch.corpus import load_corpus
from semsearch.embeddings.cache import text_key
from semsearch.lifecycle.builder import DOCUMENT_TASK
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.health import index_service_name
from tests.support.corpora import FIXTURE_CORPORA
from tests.support.process import (
    ServerProcess,
    all_ready,
    run_to_exit,
    serve_process,
    wait_for_states,
    write_config,
)
from tests.support.relay import relay_to
from tests.support.status import failure

READY = types_pb2.INDEX_STATE_READY
PARKED = types_pb2.INDEX_STATE_PARKED
REBUILDING = types_pb2.INDEX_STATE_REBUILDING
BATCH_SIZE = 2  # many small provider calls: the bulk rebuild lasts long enough to be interrupted


def write_runbooks(root: Path, documents: int, sections: int = 6) -> Path:
    """Generated markdown runbooks whose every section says something different (no two chunks alike)."""
    rng = random.Random(root.name)
    root.mkdir(parents=True)
    label = root.name
    for d in range(documents):
        lines = [f"# {label} runbook {d}", "", f"What to do when {label} alarm {d} fires.", ""]
        for s in range(sections):
            words = " ".join(f"term{rng.randrange(400)}" for _ in range(30))
            lines += [f"## Step {s} of {label} runbook {d}", "", f"{words} ({label} {d}, step {s}).", ""]
        (root / f"{label}-{d:04d}.md").write_text("\n".join(lines))
    return root


def chunk_texts(kind: str, path: Path) -> list[str]:
    return [chunk.text for doc in load_corpus(kind, path, {}) for chunk in doc.chunks]


def check_cache(path: Path, texts: Mapping[bytes, str]) -> set[bytes]:
    """Open the cache as any SQLite client would; return the keys of the stored document vectors.

    Fails unless the file is intact and every stored vector is exactly the provider's vector for
    its text (hash-v1 is deterministic, so it can be recomputed here).
    """
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        spaces = db.execute("SELECT model, dimensions FROM spaces").fetchall()
        assert spaces == [("hash-v1", 384)]
        rows = db.execute(
            "SELECT v.sha256, v.vector, s.dimensions FROM vectors v JOIN spaces s ON s.id = v.space_id "
            "WHERE v.task = ?",
            (DOCUMENT_TASK,),
        ).fetchall()
    finally:
        db.close()
    stored = {}
    for key, blob, dimensions in rows:
        assert len(blob) == 4 * dimensions, f"vector of {len(blob)} bytes for {dimensions} dimensions"
        vector = np.frombuffer(blob, dtype="<f4")
        assert np.isfinite(vector).all()
        assert key in texts, "a stored vector for a text that no corpus has"
        stored[key] = vector
    if stored:
        keys = list(stored)
        expected = hash_embed([texts[k] for k in keys], "hash-v1")
        assert np.allclose(np.stack([stored[k] for k in keys]), expected, atol=1e-6)
    return set(stored)


async def interrupt_mid_rebuild(admin: admin_pb2_grpc.AdminServiceStub, name: str) -> types_pb2.Index:
    """Poll GetIndex until ``name`` is REBUILDING with a third or more, but not all, chunks done."""
    async with asyncio.timeout(120):
        while True:
            index = (await admin.GetIndex(admin_pb2.GetIndexRequest(name=name))).index
            done, total = index.progress.chunks_done, index.progress.chunks_total
            if index.state == REBUILDING and total // 3 <= done < total:
                return index
            assert index.state != READY, "the rebuild finished before it could be interrupted"


def built(server: ServerProcess) -> dict[str, int]:
    """Chunks taken from the cache by each index's build, as the server logged them."""
    return {e["index"]: e["cached"] for e in server.named("index_built")}


@pytest.mark.slow
async def test_kill_9_mid_rebuild_leaves_an_intact_cache_and_a_warm_restart_embeds_only_the_rest(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    # Built in this order: "archive" is swapped in (and cached) before "bulk" is interrupted.
    corpora = {
        "runbooks": FIXTURE_CORPORA / "markdown",
        "archive": write_runbooks(tmp_path / "archive", documents=100),
        "bulk": write_runbooks(tmp_path / "bulk", documents=250),
    }
    indexes = [{"name": name, "kind": "markdown", "path": str(path)} for name, path in corpora.items()]
    chunks = {name: chunk_texts("markdown", path) for name, path in corpora.items()}
    texts = {text_key(t): t for ts in chunks.values() for t in ts}
    assert len(texts) == sum(len(ts) for ts in chunks.values())  # every chunk distinct
    cache = tmp_path / "cache" / "embeddings.sqlite"
    embeddings = {"batch_size": BATCH_SIZE, "concurrency": 1}

    config = write_config(
        tmp_path / "first.toml", hash_proxy.url, indexes, cache=str(cache), embeddings=embeddings
    )
    async with serve_process(config) as server, grpc.aio.insecure_channel(server.address) as channel:
        caught = await interrupt_mid_rebuild(admin_pb2_grpc.AdminServiceStub(channel), "bulk")
        server.kill()
        assert await server.wait(30) == -9
    stored = check_cache(cache, texts)
    # Whatever the store granularity, what an index swapped in before the crash is all there.
    assert {text_key(t) for t in chunks["runbooks"] + chunks["archive"]} <= stored
    missing = {name: sum(text_key(t) not in stored for t in ts) for name, ts in chunks.items()}
    assert missing["bulk"] > 0

    async with relay_to(hash_proxy.url) as relay:  # sees every text the restarted server sends
        config = write_config(
            tmp_path / "second.toml", relay.url, indexes, cache=str(cache), embeddings=embeddings
        )
        async with serve_process(config) as server, grpc.aio.insecure_channel(server.address) as channel:
            await wait_for_states(channel, all_ready)
            sent = Counter(text for text in relay.texts if text_key(text) in texts)
            search = search_pb2_grpc.SearchServiceStub(channel)
            for name in chunks:
                response = await search.Search(search_pb2.SearchRequest(query="disk full", indexes=[name]))
                assert response.hits and response.query_space.model == "hash-v1"
            server.terminate()
            assert await server.wait(30) == 0
    # Each chunk missing from the cache reached the provider once; no cached one did.
    assert sent == Counter(t for ts in chunks.values() for t in ts if text_key(t) not in stored)
    assert built(server) == {name: len(ts) - missing[name] for name, ts in chunks.items()}
    assert check_cache(cache, texts) == set(texts)
    print(
        f"\nkill -9 at {caught.progress.chunks_done}/{caught.progress.chunks_total} chunks of 'bulk': "
        f"cache intact with {len(stored)} vectors; the restart embedded {sum(missing.values())} chunks "
        f"and took {len(texts) - sum(missing.values())} from the cache"
    )


@pytest.mark.slow
async def test_a_garbage_cache_file_is_moved_aside_and_the_service_serves(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    cache = tmp_path / "embeddings.sqlite"
    cache.write_bytes(b"\x00not a database\xff" * 4096)
    indexes = [{"name": "runbooks", "kind": "markdown", "path": str(FIXTURE_CORPORA / "markdown")}]
    config = write_config(tmp_path / "semsearch.toml", hash_proxy.url, indexes, cache=str(cache))
    async with serve_process(config) as server, grpc.aio.insecure_channel(server.address) as channel:
        await wait_for_states(channel, all_ready)
        search = search_pb2_grpc.SearchServiceStub(channel)
        assert (await search.Search(search_pb2.SearchRequest(query="disk full"))).hits
        server.terminate()
        assert await server.wait(30) == 0
    assert server.named("cache_moved_aside")
    aside = list(tmp_path.glob("embeddings.sqlite.corrupt-*"))
    assert aside and aside[0].read_bytes().startswith(b"\x00not a database")
    texts = {text_key(t): t for t in chunk_texts("markdown", FIXTURE_CORPORA / "markdown")}
    assert check_cache(cache, texts) == set(texts)  # a fresh cache, filled by this run


@pytest.mark.slow
async def test_a_corpus_file_that_does_not_parse_parks_only_its_index_until_it_is_fixed(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    corpus = tmp_path / "runbooks"
    shutil.copytree(FIXTURE_CORPORA / "markdown", corpus)
    broken = corpus / "broken.md"
    broken.write_text("---\nname: [unclosed\n---\n# Broken\n\nNever loads.\n")
    indexes = [
        {"name": "runbooks", "kind": "markdown", "path": str(corpus)},
        {"name": "eips", "kind": "eip", "path": str(FIXTURE_CORPORA / "eip")},
    ]
    config = write_config(tmp_path / "semsearch.toml", hash_proxy.url, indexes)
    async with serve_process(config) as server, grpc.aio.insecure_channel(server.address) as channel:
        await wait_for_states(channel, lambda states: states.get("eips") == READY)
        await server.wait_event(lambda e: e["event"] == "reindex_complete")
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        parked = (await admin.GetIndex(admin_pb2.GetIndexRequest(name="runbooks"))).index
        assert parked.state == PARKED and parked.document_count == 0
        assert "sources do not load" in parked.last_error and "broken.md" in parked.last_error
        assert any(e["index"] == "runbooks" for e in server.named("sources_unloadable"))
        health = health_pb2_grpc.HealthStub(channel)
        serving = {
            service: (await health.Check(health_pb2.HealthCheckRequest(service=service))).status
            for service in ("", index_service_name("eips"), index_service_name("runbooks"))
        }
        assert serving == {
            "": health_pb2.HealthCheckResponse.SERVING,
            index_service_name("eips"): health_pb2.HealthCheckResponse.SERVING,
            index_service_name("runbooks"): health_pb2.HealthCheckResponse.NOT_SERVING,
        }
        search = search_pb2_grpc.SearchServiceStub(channel)
        everywhere = await search.Search(search_pb2.SearchRequest(query="blob fee market"))
        assert everywhere.hits and {hit.index for hit in everywhere.hits} == {"eips"}
        assert [(u.index, u.reason) for u in everywhere.unavailable_indexes] == [
            ("runbooks", "INDEX_NOT_READY")
        ]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await search.Search(search_pb2.SearchRequest(query="disk full", indexes=["runbooks"]))
        info = failure(refused.value).error_info
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info is not None and info.reason == "INDEX_NOT_READY"

        broken.unlink()  # fixed; a reindex request makes the watcher read the files at once
        await admin.Reindex(admin_pb2.ReindexRequest(indexes=["runbooks"], reason="file fixed"))
        await wait_for_states(channel, all_ready)
        fixed = (await admin.GetIndex(admin_pb2.GetIndexRequest(name="runbooks"))).index
        assert fixed.document_count == 3 and not fixed.last_error
        response = await search.Search(search_pb2.SearchRequest(query="disk full", indexes=["runbooks"]))
        assert response.hits[0].index == "runbooks"
        server.terminate()
        assert await server.wait(30) == 0


@pytest.mark.slow
async def test_a_corpus_folder_that_does_not_exist_stops_start_up_naming_the_index(tmp_path: Path) -> None:
    indexes = [
        {"name": "runbooks", "kind": "markdown", "path": str(FIXTURE_CORPORA / "markdown")},
        {"name": "eips", "kind": "eip", "path": str(tmp_path / "no-such-folder")},
    ]
    # Nothing listens there: the corpora are read before the provider is ever called.
    config = write_config(tmp_path / "semsearch.toml", "http://127.0.0.1:9/v1", indexes)
    code, stderr = await run_to_exit(config)
    assert code == 2
    assert "[[index]] 'eips'" in stderr and "no-such-folder" in stderr and "does not exist" in stderr
