"""Conversations and feedback on SQLite or PostgreSQL: one SQLAlchemy 2 implementation.

``QA_DATABASE_URL`` picks the database: ``sqlite:///data/qa.db`` (the embedded default, Python's
``sqlite3``) or ``postgresql://user@host:5432/db`` (asyncpg). The schema is Alembic's
(``qa.storage.migrate``): an embedded SQLite file is upgraded at start, a PostgreSQL database
must be upgraded by the operator (``qa db upgrade``) and the server refuses an outdated one.

Every operation is one transaction of as few statements as it can be (a stored turn: claim the
conversation, append the message; a read: one statement), run by ``qa.storage.engine``: on
SQLite in one hand-off to the store's own thread, on PostgreSQL over asyncpg. Writes run as tasks
of their own, shielded from the caller: a client that hangs up never cancels a write half-way, and
``close()`` waits for writes in flight before the connections close (graceful shutdown loses
nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from qa.contract import Answer, Citation, Turn
from qa.errors import NotFoundError, StorageError
from qa.storage import migrate
from qa.storage.engine import database_path, engine_url, open_database, redacted
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


def _turn_statements(dialect: str) -> tuple[Executable, Executable]:
    """The two statements that store a turn, built once (SQLAlchemy then reuses their compiled
    form; building them per call cost more than running them on SQLite).

    The first creates the conversation, or touches it when it is the owner's, and returns a row
    only when it is: on PostgreSQL the conflict locks the row, so writers of one conversation
    queue there and the second statement, which numbers the message, sees their messages.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new = insert(conversations).values(
        id=bindparam("p_conversation"),
        created_at=bindparam("p_now"),
        updated_at=bindparam("p_now"),
        owner=bindparam("p_owner"),
    )
    claim = new.on_conflict_do_update(
        index_elements=["id"],
        set_={"updated_at": new.excluded.updated_at},
        where=conversations.c.owner == bindparam("p_owner"),
    ).returning(conversations.c.id)
    next_seq = (
        select(func.coalesce(func.max(messages.c.seq), 0) + 1)
        .where(messages.c.conversation_id == bindparam("p_conversation"))
        .scalar_subquery()
    )
    append = messages.insert().values(
        id=bindparam("p_message"),
        conversation_id=bindparam("p_conversation"),
        seq=next_seq,
        created_at=bindparam("p_now"),
        question=bindparam("p_question"),
        answer=bindparam("p_answer"),
        answerable=bindparam("p_answerable"),
        citations=bindparam("p_citations"),
        timings=bindparam("p_timings"),
        mode=bindparam("p_mode"),
    )
    return claim, append


class SQLStore:
    """Conversations, messages and feedback in SQLite or PostgreSQL.

    Implements ``ConversationStore`` and ``FeedbackStore`` (``qa.storage.protocols``).
    """

    def __init__(
        self, url: str, busy_timeout_s: float = 5.0, history_limit: int = 20, pool_size: int = 10
    ) -> None:
        self.url = url
        self._label = redacted(url)
        self._history_limit = history_limit
        self.database = open_database(url, busy_timeout_s, pool_size)
        self.dialect = self.database.dialect
        self._claim, self._append = _turn_statements(self.dialect)
        # Each stored message is two turns, so fetch enough messages to fill the limit; the owner
        # comes with them (a conversation without messages is one row of NULLs).
        self._history = (
            select(conversations.c.owner, messages.c.question, messages.c.answer)
            .select_from(conversations.outerjoin(messages, messages.c.conversation_id == conversations.c.id))
            .where(conversations.c.id == bindparam("p_conversation"))
            .order_by(messages.c.seq.desc())
            .limit(max(1, (history_limit + 1) // 2))
        )
        self._writes: set[asyncio.Task[Any]] = set()
        self._verified = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self, *, upgrade: bool | None = None) -> SQLStore:
        """Check (or, for SQLite by default, bring up to date) the schema.

        ``SchemaOutdatedError`` when it is not the newest; ``StorageError`` when unreachable.
        """
        upgrade = self.dialect == "sqlite" if upgrade is None else upgrade
        self._check(await (self.upgrade() if upgrade else self.schema_state()))
        return self

    async def schema_state(self) -> migrate.SchemaState:
        """The database's schema revision and the one this program needs."""
        return await self.guard(self.database.run(migrate.schema_state, write=False))

    async def upgrade(self) -> migrate.SchemaState:
        """Apply every migration (one transaction); the new state."""
        return await self.guard(self.database.run(migrate.upgrade, write=True))

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
        await self.database.dispose()

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

    async def _transact(self, operation: Callable[[Connection], T], write: bool) -> T:
        if not self._verified:  # e.g. PostgreSQL was unreachable at start
            self._check(await self.database.run(migrate.schema_state, write=False))
        return await self.database.run(operation, write=write)

    async def _read(self, operation: Callable[[Connection], T]) -> T:
        """Run a read: one statement (on PostgreSQL it runs in autocommit)."""
        if self._closed:
            raise StorageError("the store is closed")
        return await self.guard(self._transact(operation, write=False))

    async def _write(self, operation: Callable[[Connection], T]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        task = asyncio.ensure_future(self.guard(self._transact(operation, write=True)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    # -- ConversationStore ---------------------------------------------------------------------

    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        """The last ``history_limit`` turns of ``owner``'s conversation, oldest first.

        ``NotFoundError`` when unknown or someone else's (indistinguishable on purpose).
        """

        def read(db: Connection) -> list[Any]:
            return list(db.execute(self._history, {"p_conversation": conversation_id}).all())

        rows = await self._read(read)
        if not rows or rows[0].owner != owner:
            raise NotFoundError(NO_CONVERSATION)
        turns: list[Turn] = []
        for row in reversed(rows):
            if row.question is not None:
                turns.append(Turn(role="user", content=row.question))
                turns.append(Turn(role="assistant", content=row.answer))
        return turns[-self._history_limit :] if self._history_limit else []

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        """Persist one question and its answer (atomically), creating the conversation for
        ``owner`` when new; ``NotFoundError`` (nothing written) when someone else holds it."""
        values = {
            "p_conversation": answer.conversation_id,
            "p_owner": owner,
            "p_now": _now(),
            "p_message": answer.message_id,
            "p_question": question,
            "p_answer": answer.answer,
            "p_answerable": int(answer.answerable),
            "p_mode": answer.mode,
        }
        citations, timings = answer.citations, answer.timings_ms

        def write(db: Connection) -> bool:
            if db.execute(self._claim, values).first() is None:
                return False
            stored = [c.model_dump() for c in citations]
            db.execute(
                self._append,
                {
                    **values,
                    "p_citations": json.dumps(stored, ensure_ascii=False),
                    "p_timings": json.dumps(timings),
                },
            )
            return True

        if not await self._write(write):
            raise NotFoundError(NO_CONVERSATION)

    async def conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        """Every message of ``owner``'s conversation, oldest first (``owner=None``: an admin, any
        conversation); ``NotFoundError`` when unknown or someone else's."""
        query = (
            select(conversations.c.owner, messages)
            .select_from(conversations.outerjoin(messages, messages.c.conversation_id == conversations.c.id))
            .where(conversations.c.id == conversation_id)
            .order_by(messages.c.seq)
        )

        def read(db: Connection) -> list[Any]:
            return list(db.execute(query).all())

        rows = await self._read(read)
        if not rows or (owner is not None and rows[0].owner != owner):
            raise NotFoundError(NO_CONVERSATION)
        stored = [_message(row) for row in rows if row.id is not None]
        return Conversation(conversation_id=conversation_id, messages=stored)

    # -- FeedbackStore -------------------------------------------------------------------------

    async def add_feedback(
        self, message_id: str, rating: Rating, comment: str | None, source: str, owner: str
    ) -> bool:
        """Store ``owner``'s rating of an answer in one of ``owner``'s conversations.

        One rating per message and rater: a new one replaces the earlier (returns True then).
        ``NotFoundError`` when there is no such answer or it is in someone else's conversation.
        """

        def write(db: Connection) -> bool | None:
            query = (
                select(conversations.c.owner)
                .join(messages, messages.c.conversation_id == conversations.c.id)
                .where(messages.c.id == message_id)
                .with_for_update(of=conversations)  # one rater's ratings of a message queue here
            )
            if db.execute(query).scalar_one_or_none() != owner:
                return None
            replaced = db.execute(
                feedback.delete().where(feedback.c.message_id == message_id, feedback.c.rater == owner)
            )
            db.execute(
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

        def read(db: Connection) -> list[Any]:
            return list(db.execute(query).all())

        return [FeedbackRecord(**row._asdict()) for row in await self._read(read)]

    async def check(self) -> None:
        """Raise ``StorageError`` unless the database answers a trivial query."""

        def ping(db: Connection) -> None:
            db.execute(select(1))

        await self._read(ping)
