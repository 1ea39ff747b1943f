"""Turning source sentences into numbered citations that verify character by character."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qa.contract import Citation
from qa.corpus.documents import Document
from qa.errors import QAError


class CitationMismatchError(QAError):
    """A citation whose quote is not the source text at its span: a bug, never shown as fact."""

    code = "citation_mismatch"


def make_citation(
    number: int,
    document: Document,
    start: int,
    end: int,
    score: float,
    chunk_id: str | None = None,
    section: str | None = None,
) -> Citation:
    """A citation whose quote is read from the source, so it cannot drift from the span."""
    return Citation(
        id=number,
        doc_id=document.doc_id,
        quote=document.text[start:end],
        start=start,
        end=end,
        score=round(score, 4),
        chunk_id=chunk_id,
        title=document.title,
        section=section or None,
    )


def verify_citations(citations: Sequence[Citation], documents: Mapping[str, Document]) -> None:
    """Raise unless every quote equals ``documents[doc_id].text[start:end]``."""
    for citation in citations:
        document = documents.get(citation.doc_id)
        if document is None or document.text[citation.start : citation.end] != citation.quote:
            raise CitationMismatchError(
                f"Citation [{citation.id}] does not match its source; the answer was withheld."
            )
