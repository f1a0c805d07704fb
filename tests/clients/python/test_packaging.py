"""The client installs and imports on its own, ships its types, and its example runs."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import semsearch_client
from tests.conftest import REPO
from tests.support.server import Service

PACKAGE = Path(semsearch_client.__file__).parent
EXAMPLE = REPO / "clients" / "python" / "examples" / "search.py"


def test_the_client_never_imports_the_server_package() -> None:
    server_import = re.compile(r"^\s*(from|import)\s+semsearch(\.|\s|$)", re.MULTILINE)
    offenders = [p.name for p in PACKAGE.rglob("*.py*") if server_import.search(p.read_text())]
    assert not offenders
    probe = (
        "import sys, semsearch_client\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'semsearch'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_distribution_declares_its_dependencies_and_ships_its_types() -> None:
    requires = metadata.requires("semsearch-client") or []
    names = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in requires}
    assert names == {"grpcio", "grpcio-status", "protobuf", "googleapis-common-protos"}
    assert all(">=" in r and "<" in r.replace("<=", "") for r in requires), "each has a compatible range"
    assert metadata.version("semsearch-client") == semsearch_client.__version__
    assert (PACKAGE / "py.typed").is_file()
    assert {p.name for p in (PACKAGE / "_api" / "v1").glob("*.pyi")} >= {"admin_pb2.pyi", "search_pb2.pyi"}


@pytest.mark.slow
async def test_the_example_searches_a_real_server(target: str, service: Service) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--target",
        target,
        "--index",
        "runbooks",
        "--top-k",
        "2",
        "restart the validator",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    output = stdout.decode()
    assert "2 hits for 'restart the validator' (embedded in hash-v1)" in output
    assert "[runbooks]" in output


@pytest.mark.slow
async def test_the_example_says_when_no_server_answers(dead_target: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--target", dead_target, "anything", stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 3
    assert f"no semsearch server at {dead_target}" in stderr.decode()
