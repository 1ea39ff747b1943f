"""The public answer contract (see the README's HTTP API section), shared by CLI ``--json``, HTTP, tests."""

from __future__ import annotations

import re
import unicodedata
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


# The text rules, as regular expressions that mean the same in Python and in the OpenAPI schema
# (ECMA-262), so what the schema calls valid is what the code accepts.
# Control characters other than tab and newlines: refused wherever text enters.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
# What shows nothing: whitespace, C1 controls, and the zero-width/format characters (Unicode
# category Cf in the Basic Multilingual Plane: soft hyphen, zero-width space/joiners, bidi
# marks, word joiner, BOM, …). A question made only of these is empty.
_INVISIBLE = (
    r"\s\x80-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
CLEAN_PATTERN = rf"^[^{_CONTROL}]*$"
QUESTION_PATTERN = rf"^[^{_CONTROL}]*[^{_CONTROL}{_INVISIBLE}][^{_CONTROL}]*$"
_CLEAN = re.compile(CLEAN_PATTERN)
_VISIBLE = re.compile(rf"[^{_CONTROL}{_INVISIBLE}]")


def clean_text(value: str) -> str:
    """Text fit for every stage: NFC-normalised, encodable as UTF-8, without NUL or other control
    characters (tab and newlines stay). ``ValueError`` with a reader's message otherwise.

    The rule every surface shares (requests, stored turns, Slack, the CLI): one unencodable
    character once reached the tokenizer and failed a whole batch of other people's questions.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("The text contains characters that are not valid Unicode.") from None
    if not _CLEAN.fullmatch(value):
        raise ValueError("The text contains control characters (such as NUL).")
    return unicodedata.normalize("NFC", value)


def has_visible_text(value: str) -> bool:
    """Whether ``value`` shows anything (is not only whitespace and zero-width characters)."""
    return _VISIBLE.search(value) is not None


def check_question(value: str, limit: int = MAX_MESSAGE_CHARS, about: str = "the documents") -> str:
    """A question as the pipeline takes it: clean, trimmed, some visible text, at most ``limit``
    characters once trimmed. ``ValueError`` with a reader's message otherwise (``about`` names
    the corpus in it)."""
    cleaned = clean_text(value).strip()
    if not has_visible_text(cleaned):
        raise ValueError(f"The message is empty; ask a question about {about}.")
    if len(cleaned) > limit:
        raise ValueError(f"The message is longer than {limit} characters.")
    return cleaned


def _question(value: str) -> str:
    # The schema's maxLength counts what was sent, before cleaning and trimming shorten it.
    if len(value) > MAX_MESSAGE_CHARS:
        raise ValueError(f"The message is longer than {MAX_MESSAGE_CHARS} characters.")
    check_question(value)
    return clean_text(value)  # trimming is the pipeline's, so a request echoes what was sent


# Any other text a client sends that reaches a stage (earlier turns, chat-completions messages).
CleanText = Annotated[str, AfterValidator(clean_text), Field(json_schema_extra={"pattern": CLEAN_PATTERN})]

# A question: some visible text, at most MAX_MESSAGE_CHARS as sent and once trimmed (the schema
# documents both).
Message = Annotated[
    str,
    AfterValidator(_question),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_MESSAGE_CHARS, "pattern": QUESTION_PATTERN}),
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
    content: CleanText = Field(max_length=MAX_TURN_CHARS)


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
    section: str | None = None
