"""The committed stubs must be exactly what scripts/gen_protos.py generates from the protos."""

from __future__ import annotations

import subprocess
import sys

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
