"""What the surfaces need from persistence, as protocols.

One SQLAlchemy implementation serves SQLite and PostgreSQL (``qa.storage.sql``); the chat
service and the surfaces reach the concrete store through the ``Runtime``.

Ownership: every conversation belongs to the principal that created it, named by an opaque
``owner`` string the surfaces derive from the caller (``key:<fingerprint>`` for a server key,
``widget:<fingerprint>:s:<session hash>`` for a widget key in one browser session,
``slack:<team>:<channel>``, ``anonymous`` on an open service and for the CLI). Reading, continuing or
rating someone else's conversation is indistinguishable from an unknown id: ``NotFoundError``.
Only ``conversation(..., owner=None)`` (an admin key) reads any conversation.
"""

from __future__ import annotations

from typing import Protocol

from qa.contract import Answer, Turn
from qa.storage.records import Conversation, FeedbackRecord, Rating

__all__ = ["ConversationStore", "FeedbackStore", "Rating", "Store"]


class ConversationStore(Protocol):
    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        """Earlier turns of ``owner``'s conversation, oldest first; ``NotFoundError`` when the
        conversation is unknown or belongs to another owner."""
        ...

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        """Persist one question and its answer under ``answer.conversation_id``, creating the
        conversation for ``owner`` when new; ``NotFoundError`` when another owner holds it."""
        ...


class FeedbackStore(Protocol):
    async def add_feedback(
        self, message_id: str, rating: Rating, comment: str | None, source: str, owner: str
    ) -> bool:
        """Store ``owner``'s rating of one answer in a conversation ``owner`` holds; ``source`` is
        e.g. "api", "widget", "slack". One rating per message and rater: returns True when it
        replaced an earlier one. ``NotFoundError`` for an unknown or someone else's answer."""
        ...


class Store(ConversationStore, FeedbackStore, Protocol):
    """Everything the service needs from persistence; ``qa.storage.sql.SQLStore`` implements it on
    SQLite and PostgreSQL, ``qa.storage.factory.UnavailableStore`` when there is no database.

    Infrastructure failures raise ``StorageError`` (the service degrades, see ``qa.service.chat``).
    """

    async def conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        """Every message of ``owner``'s conversation, oldest first (``owner=None``: an admin)."""
        ...

    async def feedback(self) -> list[FeedbackRecord]:
        """All feedback, oldest first, with the question and answer each rates."""
        ...

    async def check(self) -> None:
        """Raise ``StorageError`` unless the database answers."""
        ...

    async def close(self) -> None:
        """Finish writes in flight, then release connections (idempotent)."""
        ...
