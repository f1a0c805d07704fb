"""Kind "spec": fork folders of specification markdown, code included."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.corpus import Document, load_corpus
from semsearch.corpus.spec import location_metadata


@pytest.fixture
def specs(fixture_corpora: Path) -> dict[str, Document]:
    return {document.id: document for document in load_corpus("spec", fixture_corpora / "spec", {})}


def test_ids_titles_and_order(fixture_corpora: Path) -> None:
    documents = load_corpus("spec", fixture_corpora / "spec", {})
    assert [(d.id, d.title) for d in documents] == [
        ("_features/eip9905/beacon-chain", "EIP-9905 -- The Beacon Chain"),
        ("altair/light-client/sync-protocol", "Altair Light Client -- Sync Protocol"),
        ("deneb/fork-choice", "Deneb -- Fork Choice"),
        ("phase0/fork-choice", "Phase 0 -- Fork Choice"),
    ]
    assert documents[1].source == "altair/light-client/sync-protocol.md"


def test_fork_topic_and_feature_metadata(specs: dict[str, Document]) -> None:
    assert specs["phase0/fork-choice"].metadata == {"fork": "phase0"}
    assert specs["altair/light-client/sync-protocol"].metadata == {"fork": "altair", "topic": "light-client"}
    assert specs["_features/eip9905/beacon-chain"].metadata == {"feature": "true", "fork": "eip9905"}
    assert specs["altair/light-client/sync-protocol"].chunks[0].metadata["topic"] == "light-client"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("top.md", {}),
        ("gloas/partial-columns/p2p-interface.md", {"fork": "gloas", "topic": "partial-columns"}),
        ("deneb/a/b/c.md", {"fork": "deneb", "topic": "a/b"}),
        (
            "_features/eip6914/light-client/x.md",
            {"feature": "true", "fork": "eip6914", "topic": "light-client"},
        ),
        ("_features/x.md", {"fork": "_features"}),
    ],
)
def test_location_metadata(source: str, expected: dict[str, str]) -> None:
    assert location_metadata(source) == expected


def test_sections_at_level_two_and_three(specs: dict[str, Document]) -> None:
    assert [chunk.section for chunk in specs["phase0/fork-choice"].chunks] == [
        "Introduction",
        "Configuration",
        "Helpers > get_latest_attesting_balance",
        "Helpers > choose_head",
        "Handlers > handle_tick",
    ]
    assert [chunk.section for chunk in specs["altair/light-client/sync-protocol"].chunks] == [
        "",
        "Introduction",
        "Containers > LightClientSnapshot",
        "Light client state updates",
        "Light client state updates > verify_committee_signature",
    ]


def test_code_and_tables_are_embedded(specs: dict[str, Document]) -> None:
    chunks = specs["phase0/fork-choice"].chunks
    assert "| `REORG_WEIGHT_PERCENT` | `25` | percent |" in chunks[1].text
    head = chunks[3]
    assert head.body.startswith("```python\ndef choose_head(store: Store) -> Root:")
    assert head.body.endswith("```")
    assert head.text == f"Phase 0 -- Fork Choice\n\nHelpers > choose_head\n{head.body}"


def test_table_of_contents_and_comments_are_skipped(specs: dict[str, Document]) -> None:
    for document in specs.values():
        for chunk in document.chunks:
            assert "](#" not in chunk.body, chunk.id
            assert "Table of contents" not in chunk.text
            assert "<!--" not in chunk.body


def test_note_before_the_first_section_is_an_intro_chunk(specs: dict[str, Document]) -> None:
    intro = specs["_features/eip9905/beacon-chain"].chunks[0]
    assert (intro.id, intro.section) == ("_features/eip9905/beacon-chain#0", "")
    assert intro.body == "*Note*: This feature is an invented fixture and is not part of any fork."


def test_prose_and_code_of_a_section_share_a_chunk(specs: dict[str, Document]) -> None:
    [chunk] = specs["deneb/fork-choice"].chunks
    assert chunk.section == "Helpers > Modified is_block_available"
    assert chunk.body.startswith("*Note*: A block is only considered")
    assert "def is_block_available(store: Store, root: Root) -> bool:" in chunk.body


def test_max_chunk_chars_splits_code_into_fenced_pieces(fixture_corpora: Path) -> None:
    documents = load_corpus("spec", fixture_corpora / "spec", {"max_chunk_chars": 200})
    phase0 = next(document for document in documents if document.id == "phase0/fork-choice")
    balance = [chunk for chunk in phase0.chunks if chunk.section.endswith("get_latest_attesting_balance")]
    assert len(balance) >= 3
    for chunk in balance:
        assert len(chunk.body) <= 200
        assert chunk.body.startswith("```python\n")
        assert chunk.body.endswith("\n```")
    assert "def get_latest_attesting_balance" in balance[0].body
    assert [chunk.id for chunk in phase0.chunks] == [
        f"phase0/fork-choice#{n}" for n in range(len(phase0.chunks))
    ]


def test_title_falls_back_to_the_path(tmp_path: Path) -> None:
    (tmp_path / "capella").mkdir()
    (tmp_path / "capella" / "notes.md").write_text("## Only a section\n\nText.\n", encoding="utf-8")
    [document] = load_corpus("spec", tmp_path, {})
    assert (document.id, document.title, document.metadata) == (
        "capella/notes",
        "capella/notes",
        {"fork": "capella"},
    )
