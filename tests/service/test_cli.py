"""The client commands against a real server, run as a user runs them: `python -m semsearch ...` in its
own process, stdout a pipe (the plain layout scripts read), exit codes checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from typing import Any

import httpx

from semsearch.embeddings.space import PROBE_TEXT
from semsearch.proxy.launcher import ProxyProcess
from tests.conftest import REPO
from tests.support.faults import Action, FaultTransport, status
from tests.support.server import Service, fixture_config

NAMES = ("runbooks", "eips", "specs", "examples")


async def semsearch_process(*args: str) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if key != "SEMSEARCH_TARGET"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def semsearch(*args: str) -> tuple[int, str, str]:
    process = await semsearch_process(*args)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def target(service: Service) -> str:
    return f"127.0.0.1:{service.app.port}"


async def test_search_prints_a_hits_table_one_line_per_hit_in_a_pipe(service: Service) -> None:
    query = "restart a stuck validator"
    code, out, err = await semsearch("search", query, "--target", target(service), "--top-k", "3")
    assert code == 0, err
    heading, header, *rows = out.splitlines()
    assert re.fullmatch(
        rf"3 hits for “{query}” · hybrid · query embedded in hash-v1/384@[0-9a-f]{{6}}", heading
    )
    assert header.split() == ["#", "SCORE", "INDEX", "SOURCE", "SIGNALS", "TITLE", "SNIPPET"]
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]
    code, out, _ = await semsearch("search", query, "--target", target(service), "--top-k", "3", "--json")
    hits = json.loads(out)["hits"]
    for row, hit in zip(rows, hits, strict=True):  # the table shows what the response says, in order
        assert row.split()[1:4] == [f"{hit['score']:.4f}", hit["index"], hit["source"]]
        assert hit["title"] in row


async def test_search_json_is_the_whole_response_as_one_document(service: Service) -> None:
    code, out, _ = await semsearch(
        "search", "validator", "--target", target(service), "--index", "eips", "--top-k", "2", "--json"
    )
    assert code == 0
    response = json.loads(out)
    assert response["querySpace"]["model"] == "hash-v1" and response["querySpace"]["dimensions"] == 384
    assert re.fullmatch("[0-9a-f]{12}", response["querySpace"]["fingerprintDigest"])
    assert "fingerprint" not in response["querySpace"]  # named by its digests: no vector of floats
    assert 1 <= len(response["hits"]) <= 2
    for hit in response["hits"]:
        assert hit["index"] == "eips"
        assert {"documentId", "chunkId", "title", "snippet", "score", "source"} <= hit.keys()


async def test_status_shows_every_index_and_the_provider_space(service: Service) -> None:
    code, out, _ = await semsearch("status", "--target", target(service))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["INDEX", "KIND", "STATE", "SPACE"]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert set(rows) == set(NAMES)
    assert all(r[2] == "READY" and r[3].startswith("hash-v1/384@") and r[4] == "1" for r in rows.values())
    provider = next(line for line in lines if line.startswith("provider space"))
    built = next(line for line in lines if line.startswith("built space"))
    assert provider.split()[2] == built.split()[2] == rows["eips"][3]  # one space everywhere
    assert "probed" in provider


async def test_status_json_carries_indexes_and_embedding_spaces(service: Service) -> None:
    code, out, _ = await semsearch("status", "--target", target(service), "--json")
    assert code == 0
    document = json.loads(out)
    assert [ix["name"] for ix in document["indexes"]] == list(NAMES)
    assert {ix["state"] for ix in document["indexes"]} == {"INDEX_STATE_READY"}
    spaces = document["embeddingSpace"]
    assert spaces["providerSpace"]["model"] == spaces["builtSpace"]["model"] == "hash-v1"
    assert "probedAt" in spaces
    for space in (spaces["providerSpace"], spaces["builtSpace"]):  # digests, no vectors
        assert space["fingerprintDigest"] == document["indexes"][0]["space"]["fingerprintDigest"]
        assert not {"fingerprint", "queryFingerprint"} & space.keys()
    assert len(out.splitlines()) < 150  # four indexes and two spaces, not hundreds of floats


async def test_indexes_keeps_the_shape_scripts_read(service: Service) -> None:
    code, out, _ = await semsearch("indexes", "--target", target(service))
    assert code == 0
    lines = out.splitlines()
    # The documented readiness check: `awk 'NR > 1 {if ($3 != "READY") bad = 1}'`.
    assert len(lines) == 1 + len(NAMES) and all(line.split()[2] == "READY" for line in lines[1:])
    code, out, _ = await semsearch("indexes", "--target", target(service), "--json")
    assert list(json.loads(out)) == ["indexes"]


async def test_reindex_returns_at_once_and_reindex_wait_returns_0_once_swapped_in(service: Service) -> None:
    code, out, err = await semsearch("reindex", "--index", "eips", "--target", target(service), "--json")
    assert code == 0
    assert [ix["name"] for ix in json.loads(out)["indexes"]] == ["eips"]
    manager = service.app.manager
    code, out, err = await semsearch(
        "reindex", "--index", "runbooks", "--reason", "cli test", "--wait", "--target", target(service)
    )
    assert code == 0, err
    assert manager.status("runbooks").generation == 2
    assert re.search(r"runbooks\s+READY → READY\s+reindexed: cli test\s+gen 2", out)
    assert re.search(r"^rebuilt runbooks: READY, generation 2, hash-v1/384@[0-9a-f]{6}$", out, re.MULTILINE)
    assert manager.status("specs").generation == 1  # only what was asked for


def failing_document_batches(switch: dict[str, bool]) -> Any:
    """Fail every document batch (not the space probe) while ``switch["on"]``."""

    def choose(request: httpx.Request) -> Action | None:
        body = json.loads(request.content or b"{}")
        batch = body.get("input_type") == "document" and body.get("input") != [PROBE_TEXT]
        return status(500) if switch["on"] and batch else None

    return choose


async def test_reindex_wait_exits_4_with_the_error_when_the_rebuild_fails(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    switch = {"on": False}
    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=failing_document_batches(switch))
    service: Service = await make_service(fixture_config(hash_proxy.url, max_retries=0), transport=faults)
    switch["on"] = True
    code, _, err = await semsearch("reindex", "--index", "eips", "--wait", "--target", target(service))
    assert code == 4
    assert re.search(r"^semsearch: rebuild of eips failed: .*500", err, re.MULTILINE), err
    assert service.app.manager.status("eips").generation == 1  # the old index still serves
    assert "Traceback" not in err


async def test_reindex_wait_timeout_exits_5_naming_what_is_pending(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=faults)
    faults.every = status(503)  # the provider is down: the watcher cannot even probe, nothing changes
    code, _, err = await semsearch(
        "reindex", "--index", "eips", "--wait-timeout", "0.5", "--target", target(service)
    )
    assert code == 5
    assert "gave up waiting after 0.5s: eips READY" in err


async def test_a_refused_search_exits_1_with_the_code_and_reason(service: Service) -> None:
    code, _, err = await semsearch("search", "q", "--index", "nope", "--target", target(service))
    assert code == 1
    assert err.strip() == "semsearch: NOT_FOUND [INDEX_NOT_FOUND]: no index named 'nope'"
    code, _, err = await semsearch("search", "q", "--top-k", "500", "--target", target(service))
    assert code == 1
    assert "INVALID_ARGUMENT [INVALID_TOP_K]" in err and "(field top_k)" in err
    code, _, err = await semsearch("watch", "--index", "nope", "--target", target(service))
    assert code == 1 and "NOT_FOUND [INDEX_NOT_FOUND]" in err
