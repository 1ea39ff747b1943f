"""Ownership (issue 12): conversations get an owner, feedback a rater (last rating wins).

Conversations stored before get the owner ``legacy:unowned``, which no caller holds (readable
with an admin key only); earlier feedback rows get a rater of their own each, so none merge.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_OWNER = "legacy:unowned"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # SQLite files migrated in place by the pre-Alembic code (user_version 2) have the columns.
    if "owner" not in {c["name"] for c in inspector.get_columns("conversations")}:
        with op.batch_alter_table("conversations") as batch:
            batch.add_column(sa.Column("owner", sa.Text, nullable=False, server_default=LEGACY_OWNER))
    if "rater" not in {c["name"] for c in inspector.get_columns("feedback")}:
        with op.batch_alter_table("feedback") as batch:
            batch.add_column(sa.Column("rater", sa.Text, nullable=False, server_default=""))
        op.execute("UPDATE feedback SET rater = 'legacy:' || CAST(id AS TEXT)")
    indexes = {i["name"] for i in inspector.get_indexes("feedback")}
    if "feedback_rater" not in indexes:
        op.create_index("feedback_rater", "feedback", ["message_id", "rater"], unique=True)
    if "conversations_owner" not in {i["name"] for i in inspector.get_indexes("conversations")}:
        op.create_index("conversations_owner", "conversations", ["owner"])


def downgrade() -> None:
    op.drop_index("conversations_owner", "conversations")
    op.drop_index("feedback_rater", "feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("rater")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("owner")
