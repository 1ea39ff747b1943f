"""The tables as SQLAlchemy Core sees them (the schema itself is made by the Alembic migrations).

Timestamps are ISO-8601 text in UTC (sortable, and what SQLite files written before the
migrations hold); JSON columns are text for the same reason, on both dialects.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("owner", Text, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("conversation_id", Text, ForeignKey("conversations.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("answerable", Integer, nullable=False),
    Column("citations", Text, nullable=False),
    Column("timings", Text, nullable=False),
    Column("mode", String(16), nullable=False),
    UniqueConstraint("conversation_id", "seq"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Text, ForeignKey("messages.id"), nullable=False),
    Column("rating", String(4), nullable=False),
    Column("comment", Text),
    Column("source", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("rater", Text, nullable=False),
)
