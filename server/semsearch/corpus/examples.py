"""Kind "examples": YAML registries of query examples, one document and one chunk per example.

File shape: ``<category>: {name?, description?, examples: [{name, description, query, ...}]}``.
What is embedded and indexed is what the example is for: its name, description, tags and category,
and the identifiers its query uses (tables, columns, functions), which people search for by name.
The query's code itself is the hit's payload (the chunk's body), not matched: its keywords
("SELECT", "FINAL", "GROUP BY") would match questions that have nothing to do with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from semsearch.corpus.chunks import document_context, embed_text
from semsearch.corpus.files import find_files, read_text, relative_source
from semsearch.corpus.ids import UniqueIds, slugify
from semsearch.corpus.metadata import metadata_value, scalar_metadata
from semsearch.corpus.model import Chunk, CorpusError, Document
from semsearch.corpus.yaml_safe import safe_load

PATTERNS = ("*.yaml", "*.yml")
DEFAULTS: Mapping[str, int] = {}

_NOT_METADATA = ("query", "description")
# A snake_case name in a query: a table, a column, a function ("fct_block_head", "get_overview").
_IDENTIFIER = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")


def load(root: Path, options: Mapping[str, int]) -> list[Document]:
    ids = UniqueIds()  # a name repeated in one file (or a stem shared by two files) gets "-2"
    documents: list[Document] = []
    for path in find_files(root, PATTERNS):
        source = relative_source(path, root)
        for category, examples in _categories(_parse(read_text(path, source), source), source):
            for index, example in enumerate(examples):
                documents.append(_document(path.stem, source, category, index, example, ids=ids))
    return documents


def _parse(text: str, source: str) -> Mapping[str, object]:
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise CorpusError(f"{source}: malformed YAML: {detail}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CorpusError(f"{source}: expected a mapping of category -> examples, got {type(data).__name__}")
    return {str(key): value for key, value in data.items()}


def _categories(
    data: Mapping[str, object], source: str
) -> list[tuple[tuple[str, str], list[Mapping[str, object]]]]:
    """``((key, display name), examples)`` per category; entries without ``examples`` are skipped."""
    out: list[tuple[tuple[str, str], list[Mapping[str, object]]]] = []
    for key, category in data.items():
        if not isinstance(category, dict) or "examples" not in category:
            continue  # e.g. a top-level "version: 1"
        examples = category["examples"]
        if examples is None:
            continue
        if not isinstance(examples, list) or not all(isinstance(item, dict) for item in examples):
            raise CorpusError(f"{source}: category {key!r}: 'examples' must be a list of mappings")
        name = metadata_value(category.get("name")) or key
        out.append(((key, name), [{str(k): v for k, v in item.items()} for item in examples]))
    return out


def _document(
    stem: str,
    source: str,
    category: tuple[str, str],
    index: int,
    example: Mapping[str, object],
    *,
    ids: UniqueIds,
) -> Document:
    key, category_name = category
    title = metadata_value(example.get("name"))
    if not title:
        raise CorpusError(f"{source}: category {key!r}: example {index} has no 'name'")
    document_id = ids.claim(f"{stem}/{slugify(title)}")
    description = _text(example.get("description"))
    query = _text(example.get("query"))
    body = "\n\n".join(part for part in (description, query) if part)
    metadata = {**scalar_metadata(example, exclude=_NOT_METADATA), "category": key, "file": stem}
    context = document_context(f"{stem}: {category_name}", metadata.get("tags"))
    names = ", ".join(dict.fromkeys(_IDENTIFIER.findall(query)))
    matched = "\n".join(part for part in (description, f"Uses: {names}" if names else "") if part)
    chunk = Chunk(
        id=f"{document_id}#0",
        document_id=document_id,
        title=title,
        section=category_name,
        text=embed_text(title, "", matched, context),
        body=body,
        source=source,
        metadata=metadata,
    )
    return Document(id=document_id, title=title, source=source, metadata=dict(metadata), chunks=(chunk,))


def _text(value: object) -> str:
    # Queries keep their indentation and line breaks; only surrounding blank space goes.
    text = metadata_value(value) if not isinstance(value, str) else value
    return (text or "").strip("\n").rstrip()
