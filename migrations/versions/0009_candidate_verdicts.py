"""verdicts of a shadow policy

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00

A shadow policy (``/mod policy shadow``) judges live traffic beside the active policy. Its verdicts are
stored with the message (their policy version differs, so the verdict identity keeps both), marked
``candidate``: never acted on, and left out of the bot's own figures, labels and message status.
(``shadow`` already says that a server was in shadow mode when a live verdict was stored.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode (see 0006: a batch copy of ``verdicts`` would cascade to its cases).


def upgrade() -> None:
    op.add_column("verdicts", sa.Column("candidate", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute("ALTER TABLE verdicts DROP COLUMN candidate")
