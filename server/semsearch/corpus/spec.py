"""Kind "spec": specification markdown in fork folders (``deneb/fork-choice.md``), code included.

Specs are mostly Python with a few lines of prose, and the function and container names are
what people search for, so code stays in the embedded text. Sections are cut at ``##`` and
``###``; the top folder is the fork (or ``_features/<feature>``), deeper folders the topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from semsearch.corpus.blocks import split_blocks, strip_html_comments
from semsearch.corpus.chunks import build_document, document_context
from semsearch.corpus.files import find_files, read_text, relative_source
from semsearch.corpus.front_matter import split_front_matter
from semsearch.corpus.markdown_sections import first_heading, split_sections
from semsearch.corpus.metadata import scalar_metadata
from semsearch.corpus.model import Document
from semsearch.corpus.packing import join_blocks, pack

PATTERNS = ("*.md",)
DEFAULTS: Mapping[str, int] = {"max_chunk_chars": 2000}

FEATURES_FOLDER = "_features"
# The generated table of contents is a list of links to the headings that follow: pure noise.
_TOC_BLOCK = re.compile(r"<!--\s*mdformat-toc start.*?<!--\s*mdformat-toc end\s*-->", re.DOTALL)
_TOC_HEADING = re.compile(r"^(?:table of )?contents$", re.IGNORECASE)


def load(root: Path, options: Mapping[str, int]) -> list[Document]:
    documents = []
    for path in find_files(root, PATTERNS):
        source = relative_source(path, root)
        fields, markdown = split_front_matter(read_text(path, source), source)
        documents.append(_document(source, fields, markdown, options["max_chunk_chars"]))
    return documents


def _document(source: str, fields: Mapping[str, object], markdown: str, limit: int) -> Document:
    document_id = source.removesuffix(".md")
    markdown = strip_html_comments(_TOC_BLOCK.sub("", markdown))
    title = first_heading(markdown) or document_id

    pieces: list[tuple[str, str]] = []
    for section in split_sections(markdown, max_level=3, title_is_first_h1=True):
        if _TOC_HEADING.match(section.heading):
            continue
        groups = pack(split_blocks(section.body), limit)
        pieces.extend((section.label, join_blocks(group)) for group in groups)
    metadata = {**scalar_metadata(fields), **location_metadata(source)}
    context = document_context(metadata.get("description"), metadata.get("tags"))
    return build_document(document_id, title, source, metadata, pieces, context)


def location_metadata(source: str) -> dict[str, str]:
    """``fork``/``feature``/``topic`` from the folders: ``_features/eip6914/x.md`` is feature eip6914."""
    folders = list(PurePosixPath(source).parts[:-1])
    metadata: dict[str, str] = {}
    if folders[:1] == [FEATURES_FOLDER] and len(folders) > 1:
        metadata["feature"] = "true"
        folders = folders[1:]
    if folders:
        metadata["fork"] = folders[0]
    if len(folders) > 1:
        metadata["topic"] = "/".join(folders[1:])
    return metadata
