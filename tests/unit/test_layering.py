"""The domain never depends on the transport: importing it loads no gRPC, no service, no console.

Checked in a fresh interpreter, so what other tests imported cannot hide a dependency.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DOMAIN = (
    "semsearch.corpus",
    "semsearch.embeddings",
    "semsearch.index",
    "semsearch.lifecycle",
    "semsearch.store",
    "semsearch.search",
)
FORBIDDEN = (
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "grpc_status",
    "semsearch.service",
    "semsearch.console",
)

_PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str) -> list[str]:
    """Every module loaded by importing ``module`` and all its submodules, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_loads_no_transport(module: str) -> None:
    assert forbidden_in(loaded_by(module)) == []


def test_the_check_sees_a_transport_import() -> None:
    # The service package itself loads grpc: the check is able to fail.
    assert "grpc" in forbidden_in(loaded_by("semsearch.service"))
