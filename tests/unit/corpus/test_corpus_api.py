"""load_corpus: kinds, options, paths, ordering and stability."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.corpus import KINDS, Chunk, CorpusError, Document, default_options, load_corpus


def test_kinds_are_the_four_corpus_kinds() -> None:
    assert KINDS == ("markdown", "eip", "spec", "examples")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("markdown", {"max_chunk_chars": 1500}),
        ("eip", {"chunk_chars": 600}),
        ("spec", {"max_chunk_chars": 2000}),
        ("examples", {}),
    ],
)
def test_default_options(kind: str, expected: dict[str, int]) -> None:
    assert default_options(kind) == expected


def test_unknown_kind_is_named(fixture_corpora: Path) -> None:
    with pytest.raises(CorpusError, match=r"unknown corpus kind 'pdf'.*markdown, eip, spec, examples"):
        load_corpus("pdf", fixture_corpora / "markdown", {})


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_option_is_named(kind: str, fixture_corpora: Path) -> None:
    with pytest.raises(CorpusError, match=rf"unknown option 'chunk_size' for corpus kind '{kind}'"):
        load_corpus(kind, fixture_corpora / kind, {"chunk_size": 800})


@pytest.mark.parametrize("value", ["800", 12, True, 1.5, None])
def test_bad_option_value(value: object, fixture_corpora: Path) -> None:
    with pytest.raises(CorpusError, match=r"option 'chunk_chars' for corpus kind 'eip' must be an integer"):
        load_corpus("eip", fixture_corpora / "eip", {"chunk_chars": value})


@pytest.mark.parametrize("kind", KINDS)
def test_missing_path(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CorpusError, match=r"does not exist") as raised:
        load_corpus(kind, missing, {})
    assert str(missing) in str(raised.value)


def test_path_that_is_a_file(fixture_corpora: Path) -> None:
    with pytest.raises(CorpusError, match=r"not a directory"):
        load_corpus("eip", fixture_corpora / "eip" / "eip-9901.md", {})


@pytest.mark.parametrize("kind", KINDS)
def test_folder_without_documents_of_that_kind(kind: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a corpus file\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"no {kind} documents"):
        load_corpus(kind, tmp_path, {})


def test_corpus_error_is_a_value_error() -> None:
    assert issubclass(CorpusError, ValueError)


@pytest.mark.parametrize("kind", KINDS)
def test_documents_sorted_by_source_and_stable_across_loads(kind: str, fixture_corpora: Path) -> None:
    first = load_corpus(kind, fixture_corpora / kind, {})
    second = load_corpus(kind, fixture_corpora / kind, {})
    assert first == second
    sources = [document.source for document in first]
    assert sources == sorted(sources)
    assert all(isinstance(document, Document) for document in first)


@pytest.mark.parametrize("kind", KINDS)
def test_chunk_invariants_on_fixtures(kind: str, fixture_corpora: Path) -> None:
    documents = load_corpus(kind, fixture_corpora / kind, {})
    chunks: list[Chunk] = [chunk for document in documents for chunk in document.chunks]
    ids = [chunk.id for chunk in chunks]
    assert len(ids) == len(set(ids))
    assert len({document.id for document in documents}) == len(documents)
    for document in documents:
        assert document.chunks, document.id
        for n, chunk in enumerate(document.chunks):
            assert chunk.id == f"{document.id}#{n}"
            assert chunk.document_id == document.id
            assert chunk.title == document.title
            assert chunk.source == document.source
            assert chunk.body.strip()
            assert chunk.text.startswith(document.title + "\n")
            # An example's body is its description and query; only the description is matched.
            assert chunk.text.endswith(chunk.body) or (
                kind == "examples" and chunk.body.split("\n\n")[0] in chunk.text
            )
            assert all(isinstance(v, str) for v in chunk.metadata.values())
        assert not Path(document.source).is_absolute()
        assert "\\" not in document.source


def test_ids_do_not_depend_on_where_the_corpus_lives(fixture_corpora: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(fixture_corpora / "spec", copy)
    assert load_corpus("spec", copy, {}) == load_corpus("spec", fixture_corpora / "spec", {})


def test_hidden_folders_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "TEMPLATE.md").write_text("# Template\n\nPlumbing.\n", encoding="utf-8")
    (tmp_path / "real.md").write_text("# Real\n\nContent.\n", encoding="utf-8")
    documents = load_corpus("markdown", tmp_path, {})
    assert [document.source for document in documents] == ["real.md"]


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.md: not UTF-8"):
        load_corpus("markdown", tmp_path, {})
