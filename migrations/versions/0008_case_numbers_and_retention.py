"""case numbers per server; message retention

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 12:00:00

Case ids are global, so their gaps revealed other servers' volume: each case gets a number in its own
server (1, 2, 3...), unique per server, which is what moderators see and type. Existing cases are
numbered per server in id order. Retention (message text purged after ``retention_days``, a server
setting kept in ``servers.overrides``) needs no column of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: on SQLite a batch copies the table and drops the old one, and with
# foreign keys on, dropping ``cases`` would cascade to its reviews (see 0006).


def upgrade() -> None:
    op.add_column("cases", sa.Column("number", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE cases SET number = (SELECT count(*) FROM cases AS earlier "
        "WHERE earlier.server_key = cases.server_key AND earlier.id <= cases.id)"
    )
    op.create_index("uq_cases_server_number", "cases", ["server_key", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_cases_server_number", table_name="cases")
    op.execute("ALTER TABLE cases DROP COLUMN number")
