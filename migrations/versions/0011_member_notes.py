"""moderators' notes about members

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:00:00

``/mod note <member> <text>`` (and the web console's Case page) keeps a moderator's short note about a
member, per server; notes are shown with the member's history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A new table only: plain CREATE TABLE, no batch rebuild of an existing one (see 0006, 0008-0010).


def upgrade() -> None:
    op.create_table(
        "member_notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("server_key", sa.String(96), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_member_notes_server_member", "member_notes", ["server_key", "member_id"])


def downgrade() -> None:
    op.drop_index("ix_member_notes_server_member", table_name="member_notes")
    op.drop_table("member_notes")
