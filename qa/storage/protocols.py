"""What the surfaces need from persistence, as protocols.

The SQLite implementation lives in its own module; the chat service and the surfaces reach the
concrete store through the ``Runtime``.
"""

from __future__ import annotations

from typing import Literal, Protocol

from qa.contract import Answer, Turn

Rating = Literal["up", "down"]


class ConversationStore(Protocol):
    async def history(self, conversation_id: str) -> list[Turn]:
        """Earlier turns of a conversation, oldest first (empty when unknown)."""
        ...

    async def record(self, question: str, answer: Answer) -> None:
        """Persist one question and its answer under ``answer.conversation_id``."""
        ...


class FeedbackStore(Protocol):
    async def add_feedback(self, message_id: str, rating: Rating, comment: str | None, source: str) -> None:
        """Store a reader's rating of one answer; ``source`` is e.g. "api", "widget", "slack"."""
        ...
