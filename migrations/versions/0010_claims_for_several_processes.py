"""claims for several bot processes; unbounded names on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00

Several bot processes may share one database: a pending message is claimed by the process judging
it (``messages.claimed_by`` until ``claimed_until``), an outbox action by the process attempting it
(``action_outbox.claimed_by``; its lease is ``next_attempt_at`` as before). See ``modbot.store.claims``.

PostgreSQL enforces VARCHAR lengths (SQLite never does): policy titles, server names and model names
become TEXT there, so a long title is stored rather than refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UNBOUNDED = (("policy_versions", "title"), ("servers", "name"), ("verdicts", "model"))

# Plain ALTER TABLE, not batch mode: on SQLite a batch copies the table and drops the old one, and with
# foreign keys on, dropping ``messages`` would cascade to its verdicts and cases (see 0006, 0008, 0009).


def upgrade() -> None:
    op.add_column("messages", sa.Column("claimed_by", sa.String(128), nullable=True))
    op.add_column("messages", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("action_outbox", sa.Column("claimed_by", sa.String(128), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _UNBOUNDED:
            op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(200))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _UNBOUNDED:
            op.alter_column(table, column, type_=sa.String(200), existing_type=sa.Text())
    op.execute("ALTER TABLE action_outbox DROP COLUMN claimed_by")
    op.execute("ALTER TABLE messages DROP COLUMN claimed_until")
    op.execute("ALTER TABLE messages DROP COLUMN claimed_by")
