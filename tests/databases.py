"""Real PostgreSQL for tests: a fresh database per use, dropped afterwards.

``QA_TEST_POSTGRES_URL`` names a server and a user that may create databases (default: the
local server with trust authentication, as on the development and CI machines).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import asyncpg

ADMIN_URL = os.environ.get("QA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _execute(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _admin(statement: str) -> None:
    # On a thread of its own: callable from sync code and from inside a running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _execute(statement)).result()


async def _fetchval(statement: str) -> object:
    connection = await asyncpg.connect(ADMIN_URL, timeout=3)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def _admin_value(statement: str) -> object:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _fetchval(statement)).result()


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {ADMIN_URL} unreachable: {exc}"
    return None


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database (no schema); dropped on exit."""
    name = f"qa_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def end_sessions(url: str) -> None:
    """End every session of the database at ``url``, as a PostgreSQL restart does, and wait until
    the server has closed them."""
    name = url.rpartition("/")[2]
    _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    while _admin_value(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"):
        time.sleep(0.01)


REDIS_URL = os.environ.get("QA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_unreachable() -> str | None:
    """Why Redis cannot be used, or None when it can."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {REDIS_URL} unreachable: {exc}"
    return None


def unique_prefix() -> str:
    """A Redis key prefix of its own, so test runs (and other users of the server) never meet."""
    return f"qa-test-{uuid.uuid4().hex[:12]}:"


def closed_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
