"""Reflection and health: what grpcurl, buf curl and load balancers use, with no .proto files."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import REPO
from tests.support.server import Service


def buf() -> str:
    path = REPO / "node_modules" / ".bin" / "buf"
    found = str(path) if path.exists() else shutil.which("buf")
    if found is None:
        pytest.skip("buf is not installed (make test installs it from the npm registry)")
    return found


async def buf_curl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        buf(),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.slow
async def test_buf_curl_lists_both_services_and_searches_through_reflection(service: Service) -> None:
    url = f"http://127.0.0.1:{service.app.port}"
    methods = (await buf_curl("--list-methods", url)).split()
    assert "semsearch.v1.SearchService/Search" in methods
    assert {"semsearch.v1.AdminService/ListIndexes", "semsearch.v1.AdminService/WatchIndexes"} <= set(methods)
    body = json.dumps({"query": "restart a stuck validator client", "topK": 3})
    response = json.loads(await buf_curl("-d", body, f"{url}/semsearch.v1.SearchService/Search"))
    assert response["querySpace"]["model"] == "hash-v1"
    assert 0 < len(response["hits"]) <= 3


async def test_health_reports_overall_and_per_index_serving(service: Service) -> None:
    stub = health_pb2_grpc.HealthStub(service.channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    assert (await stub.Check(health_pb2.HealthCheckRequest(service=""))).status == serving
    assert (
        await stub.Check(health_pb2.HealthCheckRequest(service="semsearch.v1.SearchService"))
    ).status == serving
    for name in ("runbooks", "eips", "specs", "examples"):
        check = await stub.Check(health_pb2.HealthCheckRequest(service=f"semsearch.index.{name}"))
        assert check.status == serving
