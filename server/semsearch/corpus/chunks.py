"""Turning (section, body) pieces of one document into chunks with stable ids and embed text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from semsearch.corpus.model import Chunk, Document


def embed_text(title: str, section: str, body: str) -> str:
    """What gets embedded: "<title>\\n\\n<section>\\n<body>" (no section line when there is none).

    The title is repeated in every chunk so that a chunk out of context still says what it is
    part of; the section says where.
    """
    lead = f"{section}\n{body}" if section else body
    return f"{title}\n\n{lead}" if lead else title


def build_document(
    document_id: str,
    title: str,
    source: str,
    metadata: Mapping[str, str],
    pieces: Iterable[tuple[str, str]],
) -> Document:
    """A document whose chunks are the non-empty ``(section, body)`` pieces, ids "<doc>#<n>"."""
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
                text=embed_text(title, section, body),
                body=body,
                source=source,
                metadata=dict(metadata),
            )
        )
    return Document(id=document_id, title=title, source=source, metadata=dict(metadata), chunks=tuple(chunks))
