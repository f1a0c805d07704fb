"""The documentation says what the code does: every configuration key, its environment variable, and
the configuration errors quoted in the docs, as the loader words them today."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from semsearch import config as config_module
from semsearch.config import ConfigError, parse_config
from tests.support.corpora import REPO

REFERENCE = REPO / "docs" / "guide" / "configuration.md"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SECTIONS = config_module._SECTIONS
INDEX_KEYS = config_module._INDEX_KEYS
INDEX = {"name": "eips", "kind": "eip", "path": "/tmp"}


def section_table(text: str, heading: str) -> str:
    """The part of the reference under ``heading``, up to the next heading of that level."""
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_reference_lists_every_key_of_every_section_and_its_variable(section: str) -> None:
    text = REFERENCE.read_text()
    table = section_table(text, f"## [{section}] keys")
    for field in dataclasses.fields(SECTIONS[section]):
        if field.name.startswith("_"):
            continue
        assert f"| `{field.name}` |" in table, f"[{section}] {field.name} is not documented"
        assert f"`SEMSEARCH_{section.upper()}_{field.name.upper()}`" in text, f"no variable for {field.name}"


def test_the_reference_lists_every_index_key() -> None:
    table = section_table(REFERENCE.read_text(), "## [[index]] entries and index options")
    for key in INDEX_KEYS:
        assert f"| `{key}` |" in table, key


def test_the_readme_table_names_every_key() -> None:
    readme = (REPO / "README.md").read_text()
    for section, cls in SECTIONS.items():
        for field in dataclasses.fields(cls):
            row = rf"\n\| `\[{section}\] [^|]*`?\b{field.name}\b`?[^|]*\|"  # a row may name several keys
            assert re.search(row, readme), f"[{section}] {field.name}"
    for key in INDEX_KEYS:
        assert f"`[[index]] {key}`" in readme, key


def quoted_errors() -> list[tuple[Path, str]]:
    """Config errors quoted in the docs that name an unknown section or key (reproducible anywhere)."""
    found = []
    for path in DOCS:
        for line in path.read_text().splitlines():
            match = re.search(r"semsearch: config error: (.*unknown (?:section|key) .*\))", line)
            if match:
                found.append((path, match.group(1).rstrip("`")))
    return found


def reproduce(message: str) -> str:
    """Make the loader refuse what ``message`` names, and return its own words."""
    if match := re.match(r"unknown section '(\w+)'", message):
        raw: dict[str, object] = {match.group(1): {}, "index": [INDEX]}
    elif match := re.match(r"\[\[index\]\] #1: unknown key '(\w+)'", message):
        raw = {"index": [{**INDEX, match.group(1): "x"}]}
    elif match := re.match(r"\[(\w+)\]: unknown key '(\w+)'", message):
        raw = {match.group(1): {match.group(2): 1}, "index": [INDEX]}
    else:
        raise AssertionError(f"no way to reproduce {message!r}")
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, REPO, env={})
    return str(refused.value)


def test_every_quoted_unknown_section_or_key_message_is_the_loaders() -> None:
    quoted = quoted_errors()
    assert len(quoted) >= 4  # the reference and the runbook quote them
    for path, message in quoted:
        assert reproduce(message) == message, f"{path.relative_to(REPO)}: {message}"
