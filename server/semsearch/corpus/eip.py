"""Kind "eip": Ethereum Improvement Proposals (``eip-<n>.md`` with front matter), prose only.

Code and tables are left out of what is embedded: they are long, say little in words, and
would crowd the prose out of the chunk. Paragraphs are packed across headings so that short
sections do not become near-empty chunks; each chunk names the section it starts in (with the
headings above it) and keeps the headings it crosses. Every chunk leads with the title and the
front-matter description: a paragraph deep in a specification rarely says which change it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from semsearch.corpus.blocks import Block, split_blocks, strip_html_comments
from semsearch.corpus.chunks import build_document, document_context
from semsearch.corpus.files import find_files, read_text, relative_source
from semsearch.corpus.front_matter import split_front_matter
from semsearch.corpus.markdown_sections import split_sections
from semsearch.corpus.metadata import comma_list, metadata_value
from semsearch.corpus.model import CorpusError, Document
from semsearch.corpus.packing import join_blocks, pack

PATTERNS = ("eip-*.md",)
DEFAULTS: Mapping[str, int] = {"chunk_chars": 600}

_NUMBER_IN_NAME = re.compile(r"^eip-(\d+)\.md$")
# ```code``` used inline in prose: keep it as ordinary inline code, without the fence look.
_INLINE_FENCE = re.compile(r"(`{3,})([^`\n]+?)\1")
_PLAIN_FIELDS = ("status", "type", "category", "created", "description")


def load(root: Path, options: Mapping[str, int]) -> list[Document]:
    documents: list[Document] = []
    sources: dict[str, str] = {}
    for path in find_files(root, PATTERNS):
        source = relative_source(path, root)
        fields, markdown = split_front_matter(read_text(path, source), source)
        document = _document(path.name, source, fields, markdown, options["chunk_chars"])
        if document.id in sources:
            raise CorpusError(f"{source}: {document.id} is already defined by {sources[document.id]}")
        sources[document.id] = source
        documents.append(document)
    return documents


def _number(name: str, source: str, fields: Mapping[str, object]) -> int:
    # The front matter is authoritative; the file name is the fallback for a header without it.
    for candidate in (metadata_value(fields.get("eip")), _match_group(_NUMBER_IN_NAME.match(name))):
        if candidate and candidate.isdigit():
            return int(candidate)
    raise CorpusError(f"{source}: no EIP number in the front matter ('eip:') or the file name")


def _match_group(match: re.Match[str] | None) -> str | None:
    return match.group(1) if match else None


def _document(name: str, source: str, fields: Mapping[str, object], markdown: str, limit: int) -> Document:
    number = _number(name, source, fields)
    document_id = f"eip-{number}"
    heading = metadata_value(fields.get("title"))
    title = f"EIP-{number}: {heading}" if heading else f"EIP-{number}"

    # A heading that would open a chunk is dropped: the chunk's section line says it already.
    groups = pack(_prose_blocks(strip_html_comments(markdown)), limit, leading_headings=False)
    pieces = [(group[0].section, join_blocks(group)) for group in groups]
    metadata = _metadata(number, fields)
    context = document_context(metadata.get("description"))
    return build_document(document_id, title, source, metadata, pieces, context)


def _prose_blocks(markdown: str) -> list[Block]:
    """Text blocks tagged with their section; a heading block precedes each section's first one."""
    blocks: list[Block] = []
    for section in split_sections(markdown, max_level=6):
        prose = [block for block in split_blocks(section.body) if block.kind == "text"]
        if not prose:
            continue
        if section.level:
            marks = "#" * section.level
            blocks.append(Block("heading", f"{marks} {section.heading}", section.label))
        blocks.extend(Block("text", _INLINE_FENCE.sub(r"`\2`", block.text), section.label) for block in prose)
    return blocks


def _metadata(number: int, fields: Mapping[str, object]) -> dict[str, str]:
    metadata = {"eip": str(number)}
    for key in _PLAIN_FIELDS:
        value = metadata_value(fields.get(key))
        if value:
            metadata[key] = value
    requires = comma_list(fields.get("requires"))
    if requires:
        metadata["requires"] = requires
    author = metadata_value(fields.get("author"))
    if author:
        metadata["author"] = " ".join(author.split())
    return metadata
