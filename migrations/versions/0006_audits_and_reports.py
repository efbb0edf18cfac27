"""audits and reports: verdicts found by an audit, with the share they were sampled at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00

A share of the messages the prefilter allowed is audited by the reasoner afterwards; its verdict is a
second verdict on the message, marked ``found_by_audit``, with ``audit_share`` the sampling probability
it had (a training label weighs 1 / share; the live recall estimate weights by it too). A moderator's
report of a missed violation is a verdict of stage ``report``, which needs no column of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch copies the table and drops the old one, and with
# foreign keys on, dropping ``verdicts`` would cascade to every case. Adding (and, since SQLite 3.35,
# dropping) a column needs no copy.


def upgrade() -> None:
    op.add_column("verdicts", sa.Column("found_by_audit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("verdicts", sa.Column("audit_share", sa.Float(), nullable=True))


def downgrade() -> None:
    for column in ("audit_share", "found_by_audit"):
        op.execute(f"ALTER TABLE verdicts DROP COLUMN {column}")
