"""Kind "markdown": runbooks and other notes, one document per ``*.md``, chunked by ``##`` section.

Every chunk leads with the title, the front-matter description and tags: they say what the whole
document is for (a symptom, a task), which a section's steps alone seldom do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from semsearch.corpus.blocks import split_blocks, strip_html_comments
from semsearch.corpus.chunks import build_document, document_context
from semsearch.corpus.files import find_files, read_text, relative_source
from semsearch.corpus.front_matter import split_front_matter
from semsearch.corpus.ids import UniqueIds, slugify
from semsearch.corpus.markdown_sections import first_heading, split_sections
from semsearch.corpus.metadata import metadata_value, scalar_metadata
from semsearch.corpus.model import Document
from semsearch.corpus.packing import join_blocks, pack

PATTERNS = ("*.md",)
DEFAULTS: Mapping[str, int] = {"max_chunk_chars": 1500}


def load(root: Path, options: Mapping[str, int]) -> list[Document]:
    ids = UniqueIds()  # two files with the same name or stem still get distinct ids
    limit = options["max_chunk_chars"]
    documents = []
    for path in find_files(root, PATTERNS):
        source = relative_source(path, root)
        fields, markdown = split_front_matter(read_text(path, source), source)
        documents.append(_document(path.stem, source, fields, markdown, ids=ids, limit=limit))
    return documents


def _document(
    stem: str, source: str, fields: dict[str, object], markdown: str, *, ids: UniqueIds, limit: int
) -> Document:
    markdown = strip_html_comments(markdown)
    name = metadata_value(fields.get("name"))
    document_id = ids.claim(slugify(name or stem))
    title = metadata_value(fields.get("title")) or name or first_heading(markdown) or stem

    # Text before the first "##" (including under the "# Title" heading) is the intro.
    sections = split_sections(markdown, max_level=2, title_is_first_h1=True)
    intro = [section.body for section in sections if not section.label]
    labelled = [(section.label, section.body) for section in sections if section.label]
    intro_text = "\n\n".join(part for part in intro if part.strip())
    metadata = scalar_metadata(fields)
    description = metadata.get("description", "")
    if not intro_text.strip() and not any(body.strip() for _, body in labelled):
        intro_text = description  # a document that is only its summary is still found

    pieces: list[tuple[str, str]] = []
    for label, body in [("", intro_text), *labelled]:
        pieces.extend((label, join_blocks(group)) for group in pack(split_blocks(body), limit))
    context = document_context(description, metadata.get("tags"))
    return build_document(document_id, title, source, metadata, pieces, context)
