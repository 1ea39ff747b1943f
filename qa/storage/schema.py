"""The SQLite schema, its version, and the migrations that bring older files up to it.

Version 2 (issue 12) gave conversations an ``owner`` (the principal that created them) and made
feedback one row per message and rater (last rating wins). Files written by version 1 are
migrated in place on open: their conversations get the owner ``LEGACY_OWNER``, which no caller
ever holds, so they stay readable only with an admin key; their feedback rows keep a rater of
their own each (``legacy:<row id>``), so none is lost or merged.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2
LEGACY_OWNER = "legacy:unowned"

_TABLES = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    owner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    answerable INTEGER NOT NULL,
    citations TEXT NOT NULL,
    timings TEXT NOT NULL,
    mode TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages(id),
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rater TEXT NOT NULL
);
"""

_INDEXES = """
CREATE INDEX IF NOT EXISTS feedback_message ON feedback(message_id);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_rater ON feedback(message_id, rater);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner);
"""

# Version 1 -> 2, run inside the same transaction as the version bump.
_V1_TO_V2 = f"""
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '{LEGACY_OWNER}';
ALTER TABLE feedback ADD COLUMN rater TEXT NOT NULL DEFAULT '';
UPDATE feedback SET rater = 'legacy:' || id;
"""


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema to ``SCHEMA_VERSION`` in one transaction.

    Raises ``sqlite3.DatabaseError`` for a file written by a newer program.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"database schema {version} is newer than this program")
        has_tables = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conversations'"
        ).fetchone()
        if has_tables and version < 2:
            for statement in _V1_TO_V2.strip().split(";\n"):
                if statement.strip():
                    conn.execute(statement)
        for script in (_TABLES, _INDEXES):
            for statement in script.strip().split(";\n"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
