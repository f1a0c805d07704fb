"""Turning (section, body) pieces of one document into chunks with stable ids and embed text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from semsearch.corpus.model import Chunk, Document


def embed_text(title: str, section: str, body: str, context: str = "") -> str:
    """What gets embedded and indexed: "<title>\\n<context>\\n\\n<section>\\n<body>" (a line only
    when it has text).

    The title and the context (the document's one-line description, its tags) are repeated in
    every chunk, so that a chunk out of context still says what it is part of and what that is
    for; the section says where in it.
    """
    head = "\n".join(part for part in (title, context) if part)
    lead = f"{section}\n{body}" if section else body
    return f"{head}\n\n{lead}" if lead else head


def document_context(description: str | None, tags: str | None = None) -> str:
    """The context line(s) of a document's chunks: its description, then its tags."""
    return "\n".join(part for part in (description, f"Tags: {tags}" if tags else "") if part)


def build_document(
    document_id: str,
    title: str,
    source: str,
    metadata: Mapping[str, str],
    pieces: Iterable[tuple[str, str]],
    context: str = "",
) -> Document:
    """A document whose chunks are the non-empty ``(section, body)`` pieces, ids "<doc>#<n>";
    each chunk's text leads with the title and ``context`` (see ``embed_text``)."""
    chunks: list[Chunk] = []
    for section, raw_body in pieces:
        body = raw_body.strip("\n").rstrip()
        if not body.strip():
            continue
        chunks.append(
            Chunk(
                id=f"{document_id}#{len(chunks)}",
                document_id=document_id,
                title=title,
                section=section,
                text=embed_text(title, section, body, context),
                body=body,
                source=source,
                metadata=dict(metadata),
            )
        )
    return Document(id=document_id, title=title, source=source, metadata=dict(metadata), chunks=tuple(chunks))
