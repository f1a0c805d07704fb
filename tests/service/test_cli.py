"""`semsearch search` and `semsearch indexes` against a real server, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.conftest import REPO
from tests.support.server import Service


async def semsearch(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_search_prints_ranked_hits_and_json(service: Service) -> None:
    target = f"127.0.0.1:{service.app.port}"
    code, out, _ = await semsearch("search", "restart a stuck validator", "--target", target, "--top-k", "3")
    assert code == 0
    assert "hash-v1/384" in out
    assert out.count("\n 1. ") == 1 and "\n 3. " in out and "\n 4. " not in out
    code, out, _ = await semsearch("search", "validator", "--target", target, "--index", "eips", "--json")
    assert code == 0
    assert {hit["index"] for hit in json.loads(out)["hits"]} == {"eips"}


async def test_indexes_lists_every_index_with_its_state(service: Service) -> None:
    code, out, _ = await semsearch("indexes", "--target", f"127.0.0.1:{service.app.port}")
    assert code == 0
    for name in ("runbooks", "eips", "specs", "examples"):
        assert any(line.startswith(name) and "READY" in line for line in out.splitlines())


async def test_a_refused_search_exits_1_with_the_reason(service: Service) -> None:
    code, _, err = await semsearch(
        "search", "q", "--index", "nope", "--target", f"127.0.0.1:{service.app.port}"
    )
    assert code == 1
    assert "NOT_FOUND [INDEX_NOT_FOUND]" in err
