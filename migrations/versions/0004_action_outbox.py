"""action_outbox: actions are planned in the verdict's transaction and settled when carried out

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00

Before this revision a verdict was committed and its actions run afterwards, so a crash in between
lost them. Now the actions are written here with the verdict, and removed once their outcome is
recorded in ``actions``; what is left is resumed at start-up with the same idempotency keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_key", sa.String(length=96), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("mod_channel_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("member_notice", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("action_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_outbox_server_key"), ["server_key"], unique=False)
        batch_op.create_index("ix_action_outbox_due", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("action_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_action_outbox_due")
        batch_op.drop_index(batch_op.f("ix_action_outbox_server_key"))
    op.drop_table("action_outbox")
