"""Engines for ``QA_DATABASE_URL``: the async driver per dialect, pools, SQLite pragmas."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qa.errors import StorageError

# aiosqlite's DEBUG lines carry statement parameters, i.e. questions (personal data): never log them.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def engine_url(url: str) -> URL:
    """``sqlite://…`` and ``postgresql://…`` with the async driver this package uses."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
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


def make_engine(url: str, busy_timeout_s: float = 5.0, pool_size: int = 5) -> AsyncEngine:
    target = engine_url(url)
    if target.get_backend_name() == "postgresql":
        return create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,  # a restarted PostgreSQL costs no request an error
            pool_timeout=busy_timeout_s or 5.0,
            connect_args={"timeout": 5.0, "command_timeout": 30.0},
        )
    database = target.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One connection, operations queue for it in order (as a single writer is all SQLite has).
    engine = create_async_engine(
        target, pool_size=1, max_overflow=0, pool_timeout=None, connect_args={"timeout": busy_timeout_s}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # `qa feedback export` reads while we write
        # NORMAL is durable against process crashes in WAL mode; FULL would fsync every answer.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Writes: IMMEDIATE takes the write lock up front, so the busy timeout covers the whole
        # write. Reads: a plain (deferred) BEGIN, which WAL never blocks behind a writer.
        read_only = connection.get_execution_options().get("qa_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
