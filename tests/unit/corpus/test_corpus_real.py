"""Every real corpus in ../shared/corpora loads, with invariants that must hold for all files."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml

from semsearch.corpus import Chunk, Document, load_corpus
from semsearch.corpus.fences import FenceTracker

pytestmark = pytest.mark.corpora


@functools.cache
def _load(kind: str, path: Path) -> tuple[Document, ...]:
    return tuple(load_corpus(kind, path, {}))


def _chunks(documents: tuple[Document, ...]) -> list[Chunk]:
    return [chunk for document in documents for chunk in document.chunks]


def _check_common(documents: tuple[Document, ...], limit: int | None) -> None:
    chunks = _chunks(documents)
    ids = [chunk.id for chunk in chunks]
    assert len(ids) == len(set(ids)), "chunk ids must be unique within a corpus"
    assert len({document.id for document in documents}) == len(documents)
    assert [document.source for document in documents] == sorted(document.source for document in documents)
    for document in documents:
        assert document.chunks, f"{document.id} has no chunks"
        for n, chunk in enumerate(document.chunks):
            assert chunk.id == f"{document.id}#{n}"
            assert chunk.body.strip(), chunk.id
            assert chunk.text.startswith(document.title), chunk.id
            # An example's body is its description and query, and only the description is matched.
            matched = chunk.body.split("\n\n")[0] if document.source.endswith(".yaml") else chunk.body
            assert matched in chunk.text, chunk.id
            if limit is not None:
                assert len(chunk.body) <= limit, chunk.id


def test_eips(real_corpora: Path) -> None:
    root = real_corpora / "eips"
    documents = _load("eip", root)
    files = sorted(root.glob("eip-*.md"))
    assert len(documents) == len(files) >= 900
    _check_common(documents, limit=600)
    for document in documents:
        number = re.fullmatch(r"eip-(\d+)\.md", document.source)
        assert number, document.source
        assert document.id == f"eip-{number[1]}"
        assert document.metadata["eip"] == number[1]
        assert document.title == f"EIP-{number[1]}" or document.title.startswith(f"EIP-{number[1]}: ")
        assert document.metadata["status"]
    chunks = _chunks(documents)
    assert len(chunks) > 5000
    for chunk in chunks:
        assert "```" not in chunk.text, chunk.id
        assert not any(line.lstrip().startswith("~~~") for line in chunk.text.split("\n")), chunk.id
    by_id = {document.id: document for document in documents}
    assert by_id["eip-4844"].metadata["requires"] == "1559, 2718, 2930, 4895"
    assert by_id["eip-1559"].title.startswith("EIP-1559: ")


def test_consensus_specs(real_corpora: Path) -> None:
    root = real_corpora / "consensus-specs"
    documents = _load("spec", root)
    assert len(documents) == len(list(root.rglob("*.md"))) >= 80
    _check_common(documents, limit=2000)
    for document in documents:
        assert document.id == document.source.removesuffix(".md")
        folders = document.source.split("/")[:-1]
        if folders[0] == "_features":
            assert document.metadata["feature"] == "true"
            assert document.metadata["fork"] == folders[1]
        else:
            assert document.metadata["fork"] == folders[0]
    chunks = _chunks(documents)
    assert len(chunks) > 800
    for chunk in chunks:
        assert "mdformat-toc" not in chunk.text, chunk.id
        assert chunk.section.lower() != "table of contents", chunk.id
        fences = FenceTracker()
        for line in chunk.body.split("\n"):
            fences.feed(line)
        assert not fences.inside, f"{chunk.id} leaves a code fence open"
    assert any("def process_block(" in chunk.text for chunk in chunks)
    light_client = [d for d in documents if d.metadata.get("topic") == "light-client"]
    assert len(light_client) >= 10


def test_runbooks(real_corpora: Path) -> None:
    root = real_corpora / "panda" / "runbooks"
    documents = _load("markdown", root)
    assert len(documents) == len(list(root.glob("*.md"))) >= 5
    _check_common(documents, limit=1500)
    for document in documents:
        assert document.metadata["name"] == document.title
        assert "tags" in document.metadata and "description" in document.metadata
        assert document.chunks[0].section == ""
        assert all(not chunk.section.startswith("#") for chunk in document.chunks)
    assert len(_chunks(documents)) >= 30


def test_query_examples(real_corpora: Path) -> None:
    root = real_corpora / "panda" / "examples"
    documents = _load("examples", root)
    expected = 0
    for path in root.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        expected += sum(len(category["examples"]) for category in data.values())
    assert len(documents) == expected >= 150
    _check_common(documents, limit=None)
    for document in documents:
        [chunk] = document.chunks
        stem = document.source.removesuffix(".yaml")
        assert document.id.startswith(f"{stem}/")
        assert document.metadata["file"] == stem
        assert document.metadata["category"]
        assert chunk.text.startswith(f"{document.title}\n{stem}: ")
