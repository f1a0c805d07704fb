"""The real e5-small model behind the real provider: a paraphrased question finds its document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semsearch.api.v1 import search_pb2
from semsearch.config import parse_config
from semsearch.proxy.launcher import start_proxy
from tests.support.ops_docs import PARAPHRASES, write_docs


@pytest.mark.slow
@pytest.mark.parametrize(("question", "document"), PARAPHRASES)
async def test_paraphrase_finds_its_document_first(
    tmp_path: Path, make_service: Any, question: str, document: str
) -> None:
    docs = write_docs(tmp_path / "docs")
    async with start_proxy(model="e5-small", startup_timeout=120) as proxy:
        config = parse_config(
            {
                "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
                "embeddings": {"url": proxy.url, "model": "e5-small"},
                "cache": {"path": str(tmp_path / "cache.sqlite")},
                "index": [{"name": "ops", "kind": "markdown", "path": str(docs)}],
            },
            tmp_path,
            env={},
        )
        service = await make_service(config)
        response = await service.search.Search(search_pb2.SearchRequest(query=question))
        assert response.query_space.model == "e5-small"
        assert response.query_space.dimensions == 384
        assert response.hits[0].document_id == document, [h.document_id for h in response.hits]
