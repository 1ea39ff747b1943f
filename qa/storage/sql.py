"""Conversations and feedback on SQLite or PostgreSQL: one SQLAlchemy 2 async implementation.

``QA_DATABASE_URL`` picks the database: ``sqlite:///data/qa.db`` (the embedded default, driver
aiosqlite) or ``postgresql://user@host:5432/db`` (asyncpg). The schema is Alembic's
(``qa.storage.migrate``): an embedded SQLite file is upgraded at start, a PostgreSQL database
must be upgraded by the operator (``qa db upgrade``) and the server refuses an outdated one.

Every operation is one transaction. Writes run as tasks of their own, shielded from the caller:
a client that hangs up never cancels a write half-way, and ``close()`` waits for writes in
flight before the connections close (graceful shutdown loses nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from qa.contract import Answer, Citation, Turn
from qa.errors import NotFoundError, StorageError
from qa.storage import migrate
from qa.storage.engine import database_path, engine_url, make_engine, redacted
from qa.storage.protocols import Rating
from qa.storage.records import Conversation, FeedbackRecord, StoredMessage
from qa.storage.tables import conversations, feedback, messages

T = TypeVar("T")
log = logging.getLogger("qa.storage")
NO_CONVERSATION = "No conversation with that id."
NO_MESSAGE = "No answer with that message_id."
__all__ = ["SQLStore", "SchemaOutdatedError", "database_path", "engine_url", "redacted"]


class SchemaOutdatedError(StorageError):
    """The database's schema is not the one this program needs (``qa db upgrade``)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        message_id=row.id,
        question=row.question,
        answer=row.answer,
        answerable=bool(row.answerable),
        citations=[Citation.model_validate(c) for c in json.loads(row.citations)],
        timings_ms=json.loads(row.timings),
        mode=row.mode,
        created_at=row.created_at,
    )


class SQLStore:
    """Conversations, messages and feedback in SQLite or PostgreSQL.

    Implements ``ConversationStore`` and ``FeedbackStore`` (``qa.storage.protocols``).
    """

    def __init__(
        self, url: str, busy_timeout_s: float = 5.0, history_limit: int = 20, pool_size: int = 5
    ) -> None:
        self.url = url
        self._label = redacted(url)
        self._history_limit = history_limit
        self.engine = make_engine(url, busy_timeout_s, pool_size)
        self.dialect = self.engine.dialect.name
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self._writes: set[asyncio.Task[Any]] = set()
        self._verified = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self, *, upgrade: bool | None = None) -> SQLStore:
        """Check (or, for SQLite by default, bring up to date) the schema.

        ``SchemaOutdatedError`` when it is not the newest; ``StorageError`` when unreachable.
        """
        upgrade = self.dialect == "sqlite" if upgrade is None else upgrade
        state = await self.guard(
            migrate.upgrade(self.engine) if upgrade else migrate.schema_state(self.engine)
        )
        self._check(state)
        return self

    def _check(self, state: migrate.SchemaState) -> None:
        if not state.up_to_date:
            raise SchemaOutdatedError(
                f"database {self._label} is not migrated ({state.describe()}): run `qa db upgrade`"
            )
        self._verified = True

    async def close(self) -> None:
        """Finish writes in flight, then close the connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.engine.dispose()

    async def guard(self, work: Awaitable[T]) -> T:
        """``work``'s result; database errors become one-line ``StorageError``s (no password)."""
        try:
            return await work
        except StorageError:
            raise
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StorageError(
                f"database {self._label}: {detail[0] if detail else type(exc).__name__}"
            ) from exc

    async def _transact(
        self, operation: Callable[[AsyncConnection], Coroutine[Any, Any, T]], read_only: bool = False
    ) -> T:
        if not self._verified:  # e.g. PostgreSQL was unreachable at start
            self._check(await migrate.schema_state(self.engine))
        async with self.engine.connect() as connection:
            if read_only:
                await connection.execution_options(qa_read_only=True)
            async with connection.begin():
                return await operation(connection)

    async def _read(self, operation: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        return await self.guard(self._transact(operation, read_only=True))

    async def _write(self, operation: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        task = asyncio.ensure_future(self.guard(self._transact(operation)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _owner_of(self, db: AsyncConnection, conversation_id: str, *, lock: bool = False) -> str | None:
        query = select(conversations.c.owner).where(conversations.c.id == conversation_id)
        if lock:
            query = query.with_for_update()  # PostgreSQL: writers of one conversation queue here
        return (await db.execute(query)).scalar_one_or_none()

    # -- ConversationStore ---------------------------------------------------------------------

    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        """The last ``history_limit`` turns of ``owner``'s conversation, oldest first.

        ``NotFoundError`` when unknown or someone else's (indistinguishable on purpose).
        """

        async def read(db: AsyncConnection) -> list[Any] | None:
            if await self._owner_of(db, conversation_id) != owner:
                return None
            # Each stored message is two turns, so fetch enough messages to fill the limit.
            query = (
                select(messages.c.question, messages.c.answer)
                .where(messages.c.conversation_id == conversation_id)
                .order_by(messages.c.seq.desc())
                .limit((self._history_limit + 1) // 2)
            )
            return list((await db.execute(query)).all())

        rows = await self._read(read)
        if rows is None:
            raise NotFoundError(NO_CONVERSATION)
        turns: list[Turn] = []
        for question, answer in reversed(rows):
            turns.append(Turn(role="user", content=question))
            turns.append(Turn(role="assistant", content=answer))
        return turns[-self._history_limit :] if self._history_limit else []

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        """Persist one question and its answer (atomically), creating the conversation for
        ``owner`` when new; ``NotFoundError`` (nothing written) when someone else holds it."""
        cid = answer.conversation_id

        async def write(db: AsyncConnection) -> bool:
            now = _now()
            await db.execute(
                self._insert(conversations)
                .values(id=cid, created_at=now, updated_at=now, owner=owner)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if await self._owner_of(db, cid, lock=True) != owner:
                return False
            await db.execute(conversations.update().where(conversations.c.id == cid).values(updated_at=now))
            seq = (
                await db.execute(
                    select(func.coalesce(func.max(messages.c.seq), 0) + 1).where(
                        messages.c.conversation_id == cid
                    )
                )
            ).scalar_one()
            await db.execute(
                messages.insert().values(
                    id=answer.message_id,
                    conversation_id=cid,
                    seq=seq,
                    created_at=now,
                    question=question,
                    answer=answer.answer,
                    answerable=int(answer.answerable),
                    citations=json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False),
                    timings=json.dumps(answer.timings_ms),
                    mode=answer.mode,
                )
            )
            return True

        if not await self._write(write):
            raise NotFoundError(NO_CONVERSATION)

    async def conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        """Every message of ``owner``'s conversation, oldest first (``owner=None``: an admin, any
        conversation); ``NotFoundError`` when unknown or someone else's."""

        async def read(db: AsyncConnection) -> list[Any] | None:
            current = await self._owner_of(db, conversation_id)
            if current is None or (owner is not None and current != owner):
                return None
            query = (
                select(messages).where(messages.c.conversation_id == conversation_id).order_by(messages.c.seq)
            )
            return list((await db.execute(query)).all())

        rows = await self._read(read)
        if rows is None:
            raise NotFoundError(NO_CONVERSATION)
        return Conversation(conversation_id=conversation_id, messages=[_message(row) for row in rows])

    # -- FeedbackStore -------------------------------------------------------------------------

    async def add_feedback(
        self, message_id: str, rating: Rating, comment: str | None, source: str, owner: str
    ) -> bool:
        """Store ``owner``'s rating of an answer in one of ``owner``'s conversations.

        One rating per message and rater: a new one replaces the earlier (returns True then).
        ``NotFoundError`` when there is no such answer or it is in someone else's conversation.
        """

        async def write(db: AsyncConnection) -> bool | None:
            query = (
                select(conversations.c.owner)
                .join(messages, messages.c.conversation_id == conversations.c.id)
                .where(messages.c.id == message_id)
                .with_for_update(of=conversations)  # one rater's ratings of a message queue here
            )
            if (await db.execute(query)).scalar_one_or_none() != owner:
                return None
            replaced = await db.execute(
                feedback.delete().where(feedback.c.message_id == message_id, feedback.c.rater == owner)
            )
            await db.execute(
                feedback.insert().values(
                    message_id=message_id,
                    rating=rating,
                    comment=comment,
                    source=source,
                    created_at=_now(),
                    rater=owner,
                )
            )
            return replaced.rowcount > 0

        replaced = await self._write(write)
        if replaced is None:
            raise NotFoundError(NO_MESSAGE)
        return replaced

    async def feedback(self) -> list[FeedbackRecord]:
        """All feedback, oldest first, with the question and answer it rates."""

        async def read(db: AsyncConnection) -> list[Any]:
            query = (
                select(
                    feedback.c.message_id,
                    messages.c.conversation_id,
                    feedback.c.rating,
                    feedback.c.comment,
                    feedback.c.source,
                    feedback.c.created_at,
                    messages.c.question,
                    messages.c.answer,
                )
                .join(messages, messages.c.id == feedback.c.message_id)
                .order_by(feedback.c.id)
            )
            return list((await db.execute(query)).all())

        return [FeedbackRecord(**row._asdict()) for row in await self._read(read)]

    async def check(self) -> None:
        """Raise ``StorageError`` unless the database answers a trivial query."""

        async def ping(db: AsyncConnection) -> None:
            await db.execute(select(1))

        await self._read(ping)
