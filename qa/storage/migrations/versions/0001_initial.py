"""Conversations, messages and feedback (the schema SQLite files had before migrations).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite files written before Alembic already hold these tables (PRAGMA user_version 1 or 2):
    # adopt them as they are, so no stored conversation is touched.
    if sa.inspect(op.get_bind()).has_table("conversations"):
        return
    op.create_table(
        "conversations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("conversation_id", sa.Text, sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("answerable", sa.Integer, nullable=False),
        sa.Column("citations", sa.Text, nullable=False),
        sa.Column("timings", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.UniqueConstraint("conversation_id", "seq"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Text, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("rating", sa.Text, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.CheckConstraint("rating IN ('up', 'down')", name="feedback_rating"),
    )
    op.create_index("feedback_message", "feedback", ["message_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("messages")
    op.drop_table("conversations")
