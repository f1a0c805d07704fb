"""The startup banner names tools as they are run from the server's folder (the e2e test runs them)."""

from __future__ import annotations

import sys
from pathlib import Path

from semsearch.banner import NODE_BUF, Serving, Tools, find_tools, render
from semsearch.config import parse_config
from tests.support.corpora import REPO

INDEX = {"name": "guide", "kind": "markdown", "path": "docs/guide"}
SERVING = Serving("127.0.0.1:50051", "http://127.0.0.1:8089/v1", "http://127.0.0.1:8089/admin/model")
SCRIPT = Path(sys.executable).parent / "semsearch"


def test_semsearch_is_this_installation_typed_from_the_current_folder(tmp_path: Path) -> None:
    nothing_on_path = find_tools(SCRIPT.parents[2], which=lambda name: None)
    assert nothing_on_path.semsearch == f"{SCRIPT.parent.parent.name}/bin/semsearch"  # e.g. .venv/bin/...
    elsewhere = find_tools(tmp_path, which=lambda name: None)
    assert elsewhere.semsearch == str(SCRIPT)  # outside the checkout: the absolute path
    on_path = find_tools(tmp_path, which=lambda name: str(SCRIPT) if name == "semsearch" else None)
    assert on_path.semsearch == "semsearch"
    another = find_tools(tmp_path, which=lambda name: "/usr/local/bin/semsearch" if name != "buf" else None)
    assert another.semsearch == str(SCRIPT)  # another semsearch on PATH would talk for another install


def test_buf_comes_from_path_or_node_modules_and_grpcurl_only_when_installed(tmp_path: Path) -> None:
    missing = find_tools(tmp_path, which=lambda name: None)
    assert (missing.buf, missing.buf_installed, missing.grpcurl) == (NODE_BUF, False, None)
    (tmp_path / NODE_BUF).parent.mkdir(parents=True)
    (tmp_path / NODE_BUF).touch()
    assert find_tools(tmp_path, which=lambda name: None).buf_installed
    everything = find_tools(tmp_path, which=lambda name: f"/usr/bin/{name}")
    assert (everything.buf, everything.grpcurl) == ("buf", "grpcurl")


def test_the_banner_prints_commands_tools_and_the_model_switch_address() -> None:
    config = parse_config({"index": [INDEX]}, REPO, env={})
    text = render(config, SERVING, Tools(".venv/bin/semsearch", NODE_BUF, False, None))
    lines = text.splitlines()
    assert "  .venv/bin/semsearch status --target 127.0.0.1:50051" in lines
    lexical = "  .venv/bin/semsearch search 'what does PARKED mean' --mode lexical --target 127.0.0.1:50051"
    assert lexical in lines
    assert not any("grpcurl" in line for line in lines)
    assert f"  # buf: {NODE_BUF}, run `npm ci` first to install it (`make test` does)" in lines
    assert any(
        line.startswith(f"  {NODE_BUF} curl --protocol grpc --http2-prior-knowledge ") for line in lines
    )
    assert lines[-1] == "  curl -s http://127.0.0.1:8089/admin/model"
    tools = Tools("s", "buf", True, "grpcurl")
    external = render(config, Serving("127.0.0.1:50051", "https://x/v1", None), tools)
    assert "admin/model" not in external and "# buf:" not in external
    assert "  grpcurl -plaintext 127.0.0.1:50051 list" in external.splitlines()
