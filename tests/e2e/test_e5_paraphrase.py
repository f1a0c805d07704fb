"""The real e5-small model behind the real provider: a paraphrased question finds its document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semsearch.api.v1 import search_pb2
from semsearch.config import parse_config
from semsearch.proxy.launcher import start_proxy

DOCS = {
    "validator-restart.md": (
        "# Restarting a stuck validator\n\n## Symptoms\n\nThe validator client stops attesting and "
        "proposing; its logs show no new duties for several epochs.\n\n## Fix\n\nRestart the validator "
        "client process, then confirm that attestations resume within two epochs.\n"
    ),
    "disk-full.md": (
        "# Database disk full\n\n## Symptoms\n\nWrites fail with 'no space left on device' and the "
        "database refuses new connections.\n\n## Fix\n\nDelete old write-ahead-log segments, vacuum the "
        "largest tables, then grow the volume.\n"
    ),
    "tls-rotation.md": (
        "# Rotating TLS certificates\n\n## Steps\n\nIssue a new certificate from the internal CA, deploy it "
        "beside the old one, reload the proxy, and revoke the old certificate after a day.\n"
    ),
    "backups.md": (
        "# Nightly backups\n\n## Schedule\n\nA snapshot of every volume is taken at 02:00 UTC and kept for "
        "thirty days in the object store.\n"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "document"),
    [
        ("my node quit voting on blocks, how do I get it going again?", "validator-restart"),
        ("the storage volume for postgres has run out of room", "disk-full"),
        ("how do we replace expiring certificates?", "tls-rotation"),
    ],
)
async def test_paraphrase_finds_its_document_first(
    tmp_path: Path, make_service: Any, question: str, document: str
) -> None:
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
    async with start_proxy(model="e5-small", startup_timeout=120) as proxy:
        config = parse_config(
            {
                "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
                "embeddings": {"url": proxy.url, "model": "e5-small"},
                "cache": {"path": str(tmp_path / "cache.sqlite")},
                "index": [{"name": "ops", "kind": "markdown", "path": str(tmp_path)}],
            },
            tmp_path,
            env={},
        )
        service = await make_service(config)
        response = await service.search.Search(search_pb2.SearchRequest(query=question))
        assert response.query_space.model == "e5-small"
        assert response.query_space.dimensions == 384
        assert response.hits[0].document_id == document, [h.document_id for h in response.hits]
