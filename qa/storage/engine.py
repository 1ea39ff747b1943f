"""Engines for ``QA_DATABASE_URL``, and how the store runs one transaction on each.

The store's operations are plain synchronous functions of a SQLAlchemy ``Connection``; a
``Database`` runs one of them as one transaction:

* SQLite (the embedded default): Python's own ``sqlite3`` through a synchronous engine, on one
  thread that belongs to the store. The whole transaction is a single hand-off to that thread.
  (Through aiosqlite every cursor call was its own round trip between the event loop and the
  driver's thread, about 25 for one stored turn, and under load each costs a wake-up of both.)
  One thread and one connection also keep SQLite's single writer in order, as before.
* PostgreSQL: asyncpg through SQLAlchemy's async engine (no threads); the same function runs in
  ``AsyncConnection.run_sync``. Reads are single statements and run in autocommit, so they
  cost one round trip, with no BEGIN and COMMIT around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import create_async_engine

from qa.errors import StorageError

T = TypeVar("T")


def engine_url(url: str) -> URL:
    """``sqlite://…`` and ``postgresql://…`` with the driver this package uses."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise StorageError(f"unsupported database URL scheme {parsed.drivername!r}")


def database_path(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``, ``sqlite:////abs.db`` → ``/abs.db``, ``sqlite://`` → memory."""
    rest = url.removeprefix("sqlite://")
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    return rest.removeprefix("/")


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by whoever parses it; never echo it
        return "the configured database"


class Database(Protocol):
    """Runs an operation as one transaction; ``write=False`` for reads (they never wait for a
    writer, and on PostgreSQL run in autocommit: keep them to one statement)."""

    dialect: str

    async def run(self, operation: Callable[[Connection], T], *, write: bool) -> T: ...

    async def dispose(self) -> None:
        """Close the connections (after everything queued has run)."""
        ...


def open_database(url: str, busy_timeout_s: float = 5.0, pool_size: int = 10) -> Database:
    target = engine_url(url)
    if target.get_backend_name() == "postgresql":
        return PostgresDatabase(target, busy_timeout_s, pool_size)
    return SQLiteDatabase(target, busy_timeout_s)


class SQLiteDatabase:
    """A SQLite file (or memory) used from one thread of its own, one transaction per hand-off."""

    dialect = "sqlite"

    def __init__(self, target: URL, busy_timeout_s: float) -> None:
        database = target.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Only the store's thread ever opens a connection, so the pool holds exactly one.
        self.engine = create_engine(target, connect_args={"timeout": busy_timeout_s})
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-sqlite")

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # `qa feedback export` reads while we write
            # NORMAL is durable against process crashes in WAL mode; FULL would fsync every answer.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _begin(connection: Connection) -> None:
            # Writes: IMMEDIATE takes the write lock up front, so the busy timeout covers the whole
            # write. Reads: a plain (deferred) BEGIN, which WAL never blocks behind a writer.
            read_only = connection.get_execution_options().get("qa_read_only", False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    def _transact(self, operation: Callable[[Connection], T], write: bool) -> T:
        with self.engine.connect() as connection:
            if not write:
                connection.execution_options(qa_read_only=True)
            with connection.begin():
                return operation(connection)

    async def run(self, operation: Callable[[Connection], T], *, write: bool) -> T:
        # FIFO on one thread: operations run in the order they were asked for, as one writer.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transact, operation, write)

    async def dispose(self) -> None:
        # On the store's thread (sqlite3 connections belong to the thread that opened them), after
        # whatever is still queued there.
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=False)


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no connection the server has closed (a restart, an idle timeout): the pool
    replaces it. Free, unlike ``pool_pre_ping``, which cost three round trips per checkout
    (BEGIN, a ping, ROLLBACK); asyncpg notices a closed socket as soon as the server closes it."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


class PostgresDatabase:
    """PostgreSQL through asyncpg: a fixed pool of connections kept open, no threads."""

    dialect = "postgresql"

    def __init__(self, target: URL, busy_timeout_s: float, pool_size: int) -> None:
        self.engine = create_async_engine(
            target,
            # A fixed pool: overflow connections were opened and closed again under every burst
            # (a TCP and TLS attempt, authentication, and an empty prepared-statement cache each).
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=busy_timeout_s or 5.0,
            connect_args={"timeout": 5.0, "command_timeout": 30.0},
        )
        event.listen(self.engine.sync_engine, "checkout", _discard_closed)

    async def run(self, operation: Callable[[Connection], T], *, write: bool) -> T:
        async with self.engine.connect() as connection:
            if not write:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with connection.begin():
                return await connection.run_sync(operation)

    async def dispose(self) -> None:
        await self.engine.dispose()
