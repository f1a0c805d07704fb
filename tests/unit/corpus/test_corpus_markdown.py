"""Kind "markdown": runbooks and notes chunked by ``##`` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.corpus import CorpusError, Document, load_corpus


@pytest.fixture
def runbooks(fixture_corpora: Path) -> dict[str, Document]:
    return {document.id: document for document in load_corpus("markdown", fixture_corpora / "markdown", {})}


def test_ids_titles_and_sources(runbooks: dict[str, Document]) -> None:
    assert {(d.id, d.title, d.source) for d in runbooks.values()} == {
        ("restart-a-stuck-validator", "Restart a Stuck Validator", "restart_stuck_validator.md"),
        ("database-disk-full", "Database Disk Full", "database_disk_full.md"),
        ("postgres-vacuum-tuning", "Tuning Autovacuum on Busy Tables", "notes/postgres_vacuum_tuning.md"),
    }


def test_front_matter_metadata(runbooks: dict[str, Document]) -> None:
    assert runbooks["restart-a-stuck-validator"].metadata == {
        "name": "Restart a Stuck Validator",
        "description": (
            "Recover a validator client that stopped attesting while its beacon node still looks healthy"
        ),
        "tags": "validator, attestations, restart, incident",
        "prerequisites": "prometheus, ssh-access",
        "severity": "high",
        "owner_team": "staking-ops",
    }
    disk = runbooks["database-disk-full"].metadata
    assert disk["tags"] == "postgres, disk, storage"  # block-style YAML list
    assert disk["prerequisites"] == ""
    assert disk["pages_oncall"] == "true"
    assert disk["last_reviewed"] == "2025-03-14"
    assert runbooks["postgres-vacuum-tuning"].metadata == {}
    chunk = runbooks["database-disk-full"].chunks[2]
    assert chunk.metadata == disk


def test_chunks_follow_level_two_sections(runbooks: dict[str, Document]) -> None:
    sections = [chunk.section for chunk in runbooks["database-disk-full"].chunks]
    assert sections == [
        "",
        "Check what is using the space",
        "Free space safely",
        "Prevent it from happening again",
    ]
    vacuum = runbooks["postgres-vacuum-tuning"].chunks
    assert [chunk.section for chunk in vacuum] == ["", "Why autovacuum falls behind", "Per-table settings"]
    # "###" stays inside its "##" section
    assert "### Cost limits" in vacuum[2].body


RESTART_HEAD = (
    "Restart a Stuck Validator\n"
    "Recover a validator client that stopped attesting while its beacon node still looks healthy\n"
    "Tags: validator, attestations, restart, incident\n\n"
)


def test_every_chunk_leads_with_title_description_and_tags(runbooks: dict[str, Document]) -> None:
    intro, *sections = runbooks["restart-a-stuck-validator"].chunks
    assert intro.section == ""
    assert intro.body.startswith("Use this runbook when a validator client is running")
    assert "Recover a validator client" not in intro.body  # said once, in the lead
    assert intro.text == f"{RESTART_HEAD}{intro.body}"
    for chunk in sections:
        assert chunk.text == f"{RESTART_HEAD}{chunk.section}\n{chunk.body}"


def test_h1_title_is_not_repeated_in_the_intro(runbooks: dict[str, Document]) -> None:
    intro = runbooks["postgres-vacuum-tuning"].chunks[0]
    assert intro.body.startswith("Notes on keeping table bloat")
    assert "# Tuning" not in intro.body


def test_chunk_text_has_title_and_section(runbooks: dict[str, Document]) -> None:
    chunk = runbooks["database-disk-full"].chunks[2]
    lead = "Free space on a PostgreSQL host whose data volume has filled up and writes are failing"
    tags = "Tags: postgres, disk, storage"
    assert chunk.text == f"Database Disk Full\n{lead}\n{tags}\n\nFree space safely\n{chunk.body}"
    notes = runbooks["postgres-vacuum-tuning"].chunks[0]  # no front matter: the title alone
    assert notes.text == f"Tuning Autovacuum on Busy Tables\n\n{notes.body}"
    assert chunk.body.startswith("Drop any inactive replication slot")


def test_hashes_inside_fences_do_not_start_sections(runbooks: dict[str, Document]) -> None:
    diagnosis = runbooks["restart-a-stuck-validator"].chunks[2]
    assert diagnosis.section == "Diagnosis"
    assert "## the lines in this fence start with hashes" in diagnosis.body
    assert diagnosis.body.count("```") == 2
    disk = runbooks["database-disk-full"].chunks[1]
    assert "## this fenced block is SQL" in disk.body
    assert "| Culprit | Where | Safe to delete? |" in disk.body  # tables stay in runbooks


def test_long_section_is_split_at_paragraphs(runbooks: dict[str, Document]) -> None:
    restart = [c for c in runbooks["restart-a-stuck-validator"].chunks if c.section == "Restart procedure"]
    assert len(restart) == 2
    assert all(len(chunk.body) <= 1500 for chunk in restart)
    assert restart[0].body.startswith("Before touching anything")
    assert restart[1].body.startswith("Finally, leave a comment")
    assert [c.id for c in restart] == ["restart-a-stuck-validator#3", "restart-a-stuck-validator#4"]


def test_max_chunk_chars_option(fixture_corpora: Path) -> None:
    documents = load_corpus("markdown", fixture_corpora / "markdown", {"max_chunk_chars": 300})
    chunks = [chunk for document in documents for chunk in document.chunks]
    assert all(len(chunk.body) <= 300 for chunk in chunks)
    default = load_corpus("markdown", fixture_corpora / "markdown", {})
    assert len(chunks) > sum(len(document.chunks) for document in default)


def test_id_falls_back_to_slugified_stem_and_repeats_get_suffixes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "Disk_Full.md").write_text("Some text.\n", encoding="utf-8")
    (tmp_path / "b" / "disk-full.md").write_text("Other text.\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("---\ntitle: Custom Title\nname: Named\n---\nBody.\n", encoding="utf-8")
    documents = load_corpus("markdown", tmp_path, {})
    assert [(d.id, d.title) for d in documents] == [
        ("disk-full", "Disk_Full"),
        ("disk-full-2", "disk-full"),
        ("named", "Custom Title"),
    ]


def test_a_description_leads_the_sections_and_alone_makes_an_intro(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text(
        "---\ndescription: Only a summary\n---\n## Step\nDo it.\n", encoding="utf-8"
    )
    (tmp_path / "y.md").write_text("---\ndescription: Nothing but a summary\n---\n", encoding="utf-8")
    x, y = load_corpus("markdown", tmp_path, {})
    assert [(c.section, c.body, c.text) for c in x.chunks] == [
        ("Step", "Do it.", "x\nOnly a summary\n\nStep\nDo it.")
    ]
    assert [(c.section, c.body) for c in y.chunks] == [("", "Nothing but a summary")]


def test_html_comments_are_not_embedded(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("Visible <!-- secret --> text.\n", encoding="utf-8")
    [document] = load_corpus("markdown", tmp_path, {})
    assert document.chunks[0].body == "Visible  text."


def test_malformed_front_matter_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n", encoding="utf-8")
    (tmp_path / "bad.md").write_text("---\nname: [oops\n---\n# Bad\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.md: malformed front matter"):
        load_corpus("markdown", tmp_path, {})
