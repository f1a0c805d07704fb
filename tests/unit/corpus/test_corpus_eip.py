"""Kind "eip": EIPs as prose-only chunks packed to about ``chunk_chars``."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.corpus import CorpusError, Document, load_corpus


@pytest.fixture
def eips(fixture_corpora: Path) -> dict[str, Document]:
    return {document.id: document for document in load_corpus("eip", fixture_corpora / "eip", {})}


def test_ids_titles_and_order(fixture_corpora: Path) -> None:
    documents = load_corpus("eip", fixture_corpora / "eip", {})
    assert [(d.id, d.title, d.source) for d in documents] == [
        ("eip-9901", "EIP-9901: Dampened Blob Base Fee Market", "eip-9901.md"),
        ("eip-9902", "EIP-9902: SPONSOR Opcode for Account Abstraction", "eip-9902.md"),
        ("eip-9903", "EIP-9903", "eip-9903.md"),
        ("eip-9904", "EIP-9904: Hardfork Meta - Marigold", "eip-9904.md"),
    ]


def test_metadata(eips: dict[str, Document]) -> None:
    assert eips["eip-9901"].metadata == {
        "eip": "9901",
        "status": "Draft",
        "type": "Standards Track",
        "category": "Core",
        "created": "2025-06-02",
        "requires": "1559, 4844",
        "author": "Ada Fernsby (@afernsby), Tomas Quill <tomas@example.org>, Rena Okafor (@rokafor)",
        "description": "Smooth blob base fee updates with an exponential moving average of blob gas usage",
    }
    assert eips["eip-9902"].metadata["requires"] == "9901"  # an int in the YAML
    assert eips["eip-9904"].metadata["requires"] == "9901, 9902"  # a YAML list
    assert "category" not in eips["eip-9904"].metadata
    assert eips["eip-9903"].metadata == {"eip": "9903", "status": "Moved", "category": "ERC"}
    assert all(chunk.metadata == eips["eip-9901"].metadata for chunk in eips["eip-9901"].chunks)


def test_chunk_boundaries(eips: dict[str, Document]) -> None:
    chunks = eips["eip-9901"].chunks
    assert [chunk.section for chunk in chunks] == [
        "Abstract",
        "Motivation",
        "Motivation",
        "Backwards Compatibility",
    ]
    # The long Motivation paragraph alone exceeds 600 characters: it is cut at a sentence end.
    assert chunks[1].body.startswith("Rollups post their data in bursts.")
    assert chunks[1].body.endswith("bursty posting.")
    assert chunks[2].body.startswith("Wallets and block builders")
    # Later sections packed into a chunk keep their heading; the first one is the section line.
    assert "\n\n### Moving average of blob gas\n\n" in chunks[2].body
    assert "\n\n## Rationale\n\n" in chunks[2].body
    assert chunks[3].body.startswith("The header gains a field")
    assert all(len(chunk.body) <= 600 for chunk in chunks)


def test_chunk_text_format(eips: dict[str, Document]) -> None:
    description = "Smooth blob base fee updates with an exponential moving average of blob gas usage"
    for chunk in eips["eip-9901"].chunks:  # every chunk says which EIP it is and what it is for
        assert (
            chunk.text
            == f"EIP-9901: Dampened Blob Base Fee Market\n{description}\n\n{chunk.section}\n{chunk.body}"
        )
    chunk = eips["eip-9901"].chunks[0]
    assert chunk.section == "Abstract"
    assert chunk.body.startswith("This proposal changes how the blob base fee responds to demand.")
    # Without a description the title stands alone.
    moved = eips["eip-9903"].chunks[0]
    assert moved.text == f"EIP-9903\n\n{moved.body}"


def test_code_and_tables_are_left_out(eips: dict[str, Document]) -> None:
    for document in eips.values():
        for chunk in document.chunks:
            assert "```" not in chunk.text
            assert "~~~" not in chunk.text
            assert "| - |" not in chunk.text and "|---" not in chunk.text
    text_9901 = "\n".join(chunk.text for chunk in eips["eip-9901"].chunks)
    assert "BLOB_FEE_SMOOTHING_DENOMINATOR" not in text_9901
    assert "def next_smoothed_blob_gas" not in text_9901
    assert "the hashes here belong to a comment inside code" not in text_9901
    text_9902 = "\n".join(chunk.text for chunk in eips["eip-9902"].chunks)
    assert "PUSH20" not in text_9902  # fence opened after a list marker
    assert "contract Paymaster" not in text_9902
    assert "The gas cost of `SPONSOR` is 2600" in text_9902  # inline ```SPONSOR``` kept as code span
    assert "editor's note" not in text_9902  # HTML comment


def test_table_only_section_contributes_nothing(eips: dict[str, Document]) -> None:
    assert all("Parameters" not in chunk.section for chunk in eips["eip-9901"].chunks)
    assert "Mainnet" not in "\n".join(chunk.text for chunk in eips["eip-9904"].chunks)


def test_moved_stub_without_title(eips: dict[str, Document]) -> None:
    [chunk] = eips["eip-9903"].chunks
    assert chunk.section == ""
    assert chunk.text == "EIP-9903\n\nThis file was moved to the ERC repository."


def test_chunk_chars_option(fixture_corpora: Path) -> None:
    small = load_corpus("eip", fixture_corpora / "eip", {"chunk_chars": 200})
    chunks = [chunk for document in small for chunk in document.chunks]
    assert all(len(chunk.body) <= 200 for chunk in chunks)
    assert len(chunks) > 20
    large = load_corpus("eip", fixture_corpora / "eip", {"chunk_chars": 5000})
    assert [len(document.chunks) for document in large] == [1, 1, 1, 1]


def test_number_from_file_name_when_front_matter_lacks_it(tmp_path: Path) -> None:
    (tmp_path / "eip-77.md").write_text("---\ntitle: No Number\nstatus: Draft\n---\n## Abstract\nText.\n")
    [document] = load_corpus("eip", tmp_path, {})
    assert (document.id, document.title, document.metadata["eip"]) == ("eip-77", "EIP-77: No Number", "77")


def test_no_number_anywhere_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "eip-draft.md").write_text("---\ntitle: Draft\n---\nText.\n")
    with pytest.raises(CorpusError, match=r"eip-draft\.md: no EIP number"):
        load_corpus("eip", tmp_path, {})


def test_duplicate_number_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "eip-1.md").write_text("---\neip: 5\n---\nText.\n")
    (tmp_path / "eip-5.md").write_text("---\neip: 5\n---\nText.\n")
    with pytest.raises(CorpusError, match=r"eip-5\.md: eip-5 is already defined by eip-1\.md"):
        load_corpus("eip", tmp_path, {})


def test_only_eip_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Not an EIP\n")
    (tmp_path / "eip-3.md").write_text("---\neip: 3\ntitle: Three\n---\nText.\n")
    assert [document.id for document in load_corpus("eip", tmp_path, {})] == ["eip-3"]


def test_malformed_front_matter_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "eip-8.md").write_text("---\neip: 8\ntitle: [broken\n---\nText.\n")
    with pytest.raises(CorpusError, match=r"eip-8\.md: malformed front matter"):
        load_corpus("eip", tmp_path, {})
