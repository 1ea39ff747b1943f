"""Opening the configured store, and the stand-in used when it cannot be opened."""

from __future__ import annotations

import logging

from qa.contract import Answer, Turn
from qa.errors import StorageError
from qa.storage import migrate
from qa.storage.protocols import Rating, Store
from qa.storage.records import Conversation, FeedbackRecord
from qa.storage.sql import SchemaOutdatedError, SQLStore

log = logging.getLogger("qa.storage")


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


__all__ = ["Store", "UnavailableStore", "database_state", "open_store", "upgrade_database"]


async def open_store(url: str, history_limit: int, busy_timeout_s: float = 5.0, pool_size: int = 10) -> Store:
    """The store for ``url``, degraded rather than failing where that keeps answers flowing.

    * SQLite: the schema is brought up to date; a file that cannot be opened gives an
      ``UnavailableStore`` saying why.
    * PostgreSQL: an unreachable server gives the store all the same (each call fails with
      ``StorageError`` until the server is back, then works); an outdated schema raises
      ``SchemaOutdatedError``: the server must not start on it (``qa db upgrade``).
    """
    try:
        store = SQLStore(url, busy_timeout_s=busy_timeout_s, history_limit=history_limit, pool_size=pool_size)
    except (StorageError, OSError, ValueError) as exc:
        reason = exc.message if isinstance(exc, StorageError) else str(exc)
        log.error("conversation storage disabled: %s", reason)
        return UnavailableStore(reason)
    try:
        return await store.open()
    except SchemaOutdatedError:
        await store.close()
        raise
    except StorageError as exc:
        if store.dialect == "postgresql":
            log.error("database unreachable, answering without history until it is back: %s", exc.message)
            return store
        await store.close()
        log.error("conversation storage disabled: %s", exc.message)
        return UnavailableStore(exc.message)


async def upgrade_database(url: str) -> tuple[str | None, str]:
    """Bring the database at ``url`` to the newest schema; (revision before, revision after)."""
    store = SQLStore(url)
    try:
        before = await store.schema_state()
        after = await store.upgrade()
        return before.current, after.current or "none"
    finally:
        await store.close()


async def database_state(url: str) -> migrate.SchemaState:
    """The schema revision of the database at ``url`` and the one this program needs."""
    store = SQLStore(url)
    try:
        return await store.schema_state()
    finally:
        await store.close()
