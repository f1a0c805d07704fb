"""split_front_matter: optional YAML header of markdown files."""

from __future__ import annotations

import datetime as dt

import pytest

from semsearch.corpus import CorpusError
from semsearch.corpus.front_matter import split_front_matter


def test_fields_and_body() -> None:
    text = "---\nname: Disk Full\ntags: [disk, postgres]\ncreated: 2024-05-01\n---\n\n# Body\n"
    fields, body = split_front_matter(text, "x.md")
    assert fields == {"name": "Disk Full", "tags": ["disk", "postgres"], "created": dt.date(2024, 5, 1)}
    assert body == "\n# Body\n"


def test_no_front_matter_returns_text_unchanged() -> None:
    assert split_front_matter("# Title\n\n---\nnot: yaml header\n---\n", "x.md") == (
        {},
        "# Title\n\n---\nnot: yaml header\n---\n",
    )


def test_empty_front_matter() -> None:
    assert split_front_matter("---\n---\nbody\n", "x.md") == ({}, "body\n")


def test_unclosed_front_matter_is_not_front_matter() -> None:
    text = "---\nname: x\n\nno closing line\n"
    assert split_front_matter(text, "x.md") == ({}, text)


@pytest.mark.parametrize("header", ["just a sentence", "- a\n- b", "42"])
def test_non_mapping_front_matter_is_treated_as_none(header: str) -> None:
    text = f"---\n{header}\n---\nbody\n"
    assert split_front_matter(text, "x.md") == ({}, text)


def test_malformed_front_matter_names_the_file() -> None:
    with pytest.raises(CorpusError, match=r"^runbooks/broken\.md: malformed front matter"):
        split_front_matter("---\nname: [unclosed\n---\nbody\n", "runbooks/broken.md")


def test_closing_dots_and_non_string_keys() -> None:
    fields, body = split_front_matter("---\n1: one\nok: true\n...\nbody", "x.md")
    assert fields == {"1": "one", "ok": True}
    assert body == "body"
