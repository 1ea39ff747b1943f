"""The public answer contract (DESIGN.md), shared by the CLI ``--json``, HTTP and tests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """A verbatim source span: ``documents[doc_id].text[start:end] == quote``, always."""

    id: int = Field(description="The number used by the [n] marker in the answer text.")
    doc_id: str
    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = Field(description="Evidence score of the quoted sentence for the question.")
    chunk_id: str | None = None
    title: str | None = None
    section: str | None = Field(
        default=None, description="Title of the document section the quote sits in, if it has headings."
    )


class Answer(BaseModel):
    answer: str
    answerable: bool
    citations: list[Citation]
    conversation_id: str
    message_id: str = Field(description="Identifies this answer, e.g. for feedback.")
    mode: Literal["extractive", "llm"] = "extractive"
    timings_ms: dict[str, float] = Field(default_factory=dict)
    fallback_reason: str | None = Field(
        default=None, description="Why an LLM answer was replaced by the extractive one (LLM mode only)."
    )
    unsupported_sentences: list[str] = Field(
        default_factory=list,
        description="Sentences the LLM wrote that no given source backed; removed from the answer.",
    )


class Turn(BaseModel):
    """One earlier message of a conversation supplied by the client."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    section: str | None = None
