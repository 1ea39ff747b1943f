"""SQLite persistence for conversations and feedback (implements ``qa.storage.protocols`` protocols).

One connection, used from one dedicated worker thread: every operation is a single function
that runs a whole transaction (``BEGIN IMMEDIATE`` … ``COMMIT``) on that thread. A caller that is
cancelled (a client hanging up) therefore never leaves a transaction half-done, and ``close()``
drains queued writes before the connection closes, which is what makes shutdown safe. WAL mode
lets readers in other processes (``qa feedback export``) run while the server writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from qa.contract import Answer, Citation, Turn
from qa.errors import NotFoundError, StorageError
from qa.storage.protocols import Rating
from qa.storage.schema import SCHEMA_VERSION, migrate

__all__ = ["SCHEMA_VERSION", "Conversation", "FeedbackRecord", "SQLiteStore", "Store", "open_store"]

T = TypeVar("T")
log = logging.getLogger("qa.storage.sqlite")
NO_CONVERSATION = "No conversation with that id."


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


def database_path(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``, ``sqlite:////abs.db`` → ``/abs.db``, ``sqlite://`` → memory."""
    rest = url.removeprefix("sqlite://")
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    return rest.removeprefix("/")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so busy_timeout applies to the whole write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteStore:
    """Conversations, messages and feedback in one SQLite file (``ConversationStore``, ``FeedbackStore``)."""

    def __init__(self, url: str, busy_timeout_s: float = 5.0, history_limit: int = 20) -> None:
        self.url = url
        self._history_limit = history_limit
        self._busy_timeout_s = busy_timeout_s
        # One thread owns the connection; operations queue up in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-store")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> SQLiteStore:
        """Create the file and schema if needed; ``StorageError`` if the database is unusable."""
        await self._run(self._open)
        return self

    def _open(self) -> None:
        path = database_path(self.url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against process crashes in WAL mode; FULL would fsync every answer.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            migrate(conn)  # create, or upgrade an older file in place (qa.storage.schema)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Finish queued writes, then close. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            # A locked or read-only database closes all the same.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            self._conn = None

    async def _run(self, operation: Callable[[], T]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, operation)
        except sqlite3.Error as exc:
            raise StorageError(f"database {self.url}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"database {self.url}: {exc.strerror or exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.OperationalError("database is not open")
        return self._conn

    # -- ConversationStore ---------------------------------------------------------------------

    def _owner_of(self, conversation_id: str) -> str | None:
        row = self._db.execute("SELECT owner FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return None if row is None else str(row[0])

    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        """The last ``history_limit`` turns of ``owner``'s conversation, oldest first.

        ``NotFoundError`` when there is no such conversation or it belongs to someone else (the
        two are indistinguishable on purpose: ids of others' conversations are not confirmed).
        """

        def read() -> list[Any] | None:
            if self._owner_of(conversation_id) != owner:
                return None
            # Each stored message is two turns, so fetch enough messages to fill the limit.
            return self._db.execute(
                "SELECT question, answer FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?",
                (conversation_id, (self._history_limit + 1) // 2),
            ).fetchall()

        rows = await self._run(read)
        if rows is None:
            raise NotFoundError(NO_CONVERSATION)
        turns: list[Turn] = []
        for question, answer in reversed(rows):
            turns.append(Turn(role="user", content=question))
            turns.append(Turn(role="assistant", content=answer))
        return turns[-self._history_limit :] if self._history_limit else []

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        """Persist one question and its answer under ``answer.conversation_id`` (atomically).

        The conversation is created for ``owner`` when new; ``NotFoundError`` when it exists and
        belongs to someone else (nothing is written then).
        """
        citations = json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False)
        timings = json.dumps(answer.timings_ms)

        def write() -> bool:
            now = _now()
            db = self._db
            with _transaction(db):
                current = self._owner_of(answer.conversation_id)
                if current is None:
                    db.execute(
                        "INSERT INTO conversations (id, created_at, updated_at, owner) VALUES (?, ?, ?, ?)",
                        (answer.conversation_id, now, now, owner),
                    )
                elif current != owner:
                    return False
                else:
                    db.execute(
                        "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, answer.conversation_id)
                    )
                (seq,) = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
                    (answer.conversation_id,),
                ).fetchone()
                db.execute(
                    "INSERT INTO messages (id, conversation_id, seq, created_at, question, answer, "
                    "answerable, citations, timings, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        answer.message_id,
                        answer.conversation_id,
                        seq,
                        now,
                        question,
                        answer.answer,
                        int(answer.answerable),
                        citations,
                        timings,
                        answer.mode,
                    ),
                )
                return True

        if not await self._run(write):
            raise NotFoundError(NO_CONVERSATION)

    async def conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        """Every message of ``owner``'s conversation, oldest first (``owner=None``: an admin, any
        conversation); ``NotFoundError`` when unknown or someone else's."""

        def read() -> list[Any] | None:
            current = self._owner_of(conversation_id)
            if current is None or (owner is not None and current != owner):
                return None
            return self._db.execute(
                "SELECT id, question, answer, answerable, citations, timings, mode, created_at "
                "FROM messages WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()

        rows = await self._run(read)
        if rows is None:
            raise NotFoundError(NO_CONVERSATION)
        return Conversation(
            conversation_id=conversation_id,
            messages=[
                StoredMessage(
                    message_id=row[0],
                    question=row[1],
                    answer=row[2],
                    answerable=bool(row[3]),
                    citations=[Citation.model_validate(c) for c in json.loads(row[4])],
                    timings_ms=json.loads(row[5]),
                    mode=row[6],
                    created_at=row[7],
                )
                for row in rows
            ],
        )

    # -- FeedbackStore -------------------------------------------------------------------------

    async def add_feedback(
        self, message_id: str, rating: Rating, comment: str | None, source: str, owner: str
    ) -> bool:
        """Store ``owner``'s rating of an answer in one of ``owner``'s conversations.

        One rating per message and rater: a new one replaces the earlier (returns True then).
        ``NotFoundError`` when there is no such answer or it is in someone else's conversation.
        """

        def write() -> bool | None:
            db = self._db
            with _transaction(db):
                row = db.execute(
                    "SELECT c.owner FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                    "WHERE m.id = ?",
                    (message_id,),
                ).fetchone()
                if row is None or row[0] != owner:
                    return None
                replaced = db.execute(
                    "DELETE FROM feedback WHERE message_id = ? AND rater = ?", (message_id, owner)
                ).rowcount
                db.execute(
                    "INSERT INTO feedback (message_id, rating, comment, source, created_at, rater) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (message_id, rating, comment, source, _now(), owner),
                )
                return replaced > 0

        replaced = await self._run(write)
        if replaced is None:
            raise NotFoundError("No answer with that message_id.")
        return replaced

    async def feedback(self) -> list[FeedbackRecord]:
        """All feedback, oldest first, with the question and answer it rates."""

        def read() -> list[Any]:
            return self._db.execute(
                "SELECT f.message_id, m.conversation_id, f.rating, f.comment, f.source, f.created_at, "
                "m.question, m.answer FROM feedback f JOIN messages m ON m.id = f.message_id "
                "ORDER BY f.id"
            ).fetchall()

        fields = list(FeedbackRecord.model_fields)
        return [FeedbackRecord(**dict(zip(fields, row, strict=True))) for row in await self._run(read)]

    async def check(self) -> None:
        """Raise ``StorageError`` unless the database answers a trivial query."""
        await self._run(lambda: self._db.execute("SELECT 1").fetchone())


class UnavailableStore:
    """Stands in when the database cannot be opened: every call raises ``StorageError``.

    Surfaces keep working without persistence (chat answers, history is empty) instead of the
    whole service failing to start because of, say, a read-only volume.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _fail(self) -> StorageError:
        return StorageError(f"database unavailable: {self.reason}")

    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        raise self._fail()

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        raise self._fail()

    async def conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        raise self._fail()

    async def add_feedback(
        self, message_id: str, rating: Rating, comment: str | None, source: str, owner: str
    ) -> bool:
        raise self._fail()

    async def feedback(self) -> list[FeedbackRecord]:
        raise self._fail()

    async def check(self) -> None:
        raise self._fail()

    async def close(self) -> None:
        return None


Store = SQLiteStore | UnavailableStore


async def open_store(url: str, history_limit: int, busy_timeout_s: float = 5.0) -> Store:
    """The SQLite store, or an ``UnavailableStore`` saying why it could not be opened."""
    store = SQLiteStore(url, busy_timeout_s=busy_timeout_s, history_limit=history_limit)
    try:
        return await store.open()
    except StorageError as exc:
        await store.close()
        log.error("conversation storage disabled: %s", exc.message)
        return UnavailableStore(exc.message)
