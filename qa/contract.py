"""The public answer contract (see the README's HTTP API section), shared by CLI ``--json``, HTTP, tests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

# Limits declared once; requests, stored turns, the Slack adapter and the widget config use these.
ID_PATTERN = r"^[A-Za-z0-9_\-]+$"
MAX_ID_CHARS = 100
MAX_MESSAGE_CHARS = 2_000  # the longest question accepted (``QA_MAX_MESSAGE_CHARS`` may lower it)
MAX_TURN_CHARS = 20_000  # one earlier message of a conversation
MAX_HISTORY_MESSAGES = 50  # ``QA_MAX_HISTORY_MESSAGES`` may lower it
MAX_COMMENT_CHARS = 2_000

ResourceId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("The message is empty; ask a question about the documents.")
    if len(value.strip()) > MAX_MESSAGE_CHARS:
        raise ValueError(f"The message is longer than {MAX_MESSAGE_CHARS} characters.")
    return value


# A question: some non-space text, at most MAX_MESSAGE_CHARS once trimmed (documented in the schema).
Message = Annotated[
    str,
    AfterValidator(_has_text),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_MESSAGE_CHARS, "pattern": r"\S"}),
]


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
    content: str = Field(max_length=MAX_TURN_CHARS)


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float = Field(
        description=(
            "Reciprocal rank fusion of the dense and BM25 rankings: the sum over both of "
            "1/(k + rank), rank from 1, k = QA_RETRIEVAL__RRF_K (60), so at most 2/61 ≈ 0.033 "
            "(first in both). It orders hits within one response; it is not a probability and "
            "not comparable with citation scores."
        )
    )
