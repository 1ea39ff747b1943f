"""What the store returns: stored messages, whole conversations and feedback records."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from qa.contract import Citation

Rating = Literal["up", "down"]


class StoredMessage(BaseModel):
    """One question and its answer, as persisted."""

    message_id: str
    question: str
    answer: str
    answerable: bool
    citations: list[Citation]
    mode: Literal["extractive", "llm"]
    timings_ms: dict[str, float]
    created_at: str


class Conversation(BaseModel):
    conversation_id: str
    messages: list[StoredMessage]


class FeedbackRecord(BaseModel):
    """A rating with the question and answer it is about, for review and export."""

    message_id: str
    conversation_id: str
    rating: Rating
    comment: str | None
    source: str
    created_at: str
    question: str
    answer: str
