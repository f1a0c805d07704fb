"""The committed stubs (server and client) must be exactly what scripts/gen_protos.py generates."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_generated_stubs_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubs_import_under_the_package() -> None:
    from semsearch.api.v1 import admin_pb2, search_pb2

    assert search_pb2.DESCRIPTOR.package == "semsearch.v1"
    assert set(admin_pb2.DESCRIPTOR.services_by_name) == {"AdminService"}


def test_client_stubs_import_under_the_client_package() -> None:
    from semsearch_client._api.v1 import admin_pb2, search_pb2

    assert search_pb2.DESCRIPTOR.package == "semsearch.v1"
    assert set(admin_pb2.DESCRIPTOR.services_by_name) == {"AdminService"}


SHARE_ONE_POOL = """
import importlib, sys
first, second = sys.argv[1:]
a = importlib.import_module(first + ".admin_pb2")
b = importlib.import_module(second + ".admin_pb2")
ta = importlib.import_module(first + ".types_pb2")
# Both copies registered the same files in the default pool: protobuf keeps one, so the two
# modules share descriptors and message classes, and messages of one fit fields of the other.
assert a.DESCRIPTOR is b.DESCRIPTOR and a.WatchIndexesResponse is b.WatchIndexesResponse
message = b.ListIndexesResponse(indexes=[ta.Index(name="x")])
assert b.ListIndexesResponse.FromString(message.SerializeToString()).indexes[0].name == "x"
"""


@pytest.mark.parametrize(
    "order",
    [("semsearch.api.v1", "semsearch_client._api.v1"), ("semsearch_client._api.v1", "semsearch.api.v1")],
)
def test_server_and_client_stubs_load_in_one_process(order: tuple[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SHARE_ONE_POOL, *order], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
