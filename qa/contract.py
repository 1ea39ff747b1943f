"""The public answer contract (DESIGN.md), shared by the CLI ``--json``, HTTP and tests."""

from __future__ import annotations

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


# Characters that show nothing: zero-width spaces and joiners, the BOM, bidi marks, soft hyphens
# (Unicode "format" characters), besides whitespace. A question made only of them is empty.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def clean_text(value: str) -> str:
    """Text fit for every stage: NFC-normalised, encodable as UTF-8, without NUL or other control
    characters (tab and newlines stay). ``ValueError`` with a reader's message otherwise.

    The rule every surface shares (requests, stored turns, Slack, the CLI): one unencodable
    character once reached the tokenizer and failed a whole batch of other people's questions.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "The text contains characters that are not valid Unicode (a lone surrogate)."
        ) from None
    if any((ch < " " and ch not in "\t\n\r") or ch == "\x7f" for ch in value):
        raise ValueError("The text contains control characters (such as NUL).")
    return unicodedata.normalize("NFC", value)


def visible_length(value: str) -> int:
    """How many characters of ``value`` show something (not whitespace, not zero-width)."""
    return sum(1 for ch in value if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def check_question(value: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A question as the pipeline takes it: clean, trimmed, some visible text, at most ``limit``
    characters once trimmed. ``ValueError`` with a reader's message otherwise."""
    cleaned = clean_text(value).strip()
    if not visible_length(cleaned):
        raise ValueError("The message is empty; ask a question about the documents.")
    if len(cleaned) > limit:
        raise ValueError(f"The message is longer than {limit} characters.")
    return cleaned


def _question(value: str) -> str:
    check_question(value)
    return clean_text(value)  # trimming is the pipeline's, so a request echoes what was sent


# Any other text a client sends that reaches a stage (earlier turns, chat-completions messages).
CleanText = Annotated[str, AfterValidator(clean_text)]

# A question: some visible text, at most MAX_MESSAGE_CHARS once trimmed (documented in the schema).
Message = Annotated[
    str,
    AfterValidator(_question),
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
    content: CleanText = Field(max_length=MAX_TURN_CHARS)


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
