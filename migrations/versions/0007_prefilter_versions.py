"""prefilter versions: each community's trained prefilters, the active one flagged

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:00:00

``modbot serve`` retrains a community's prefilter from its stored labels (``modbot.training.learning``);
every candidate is kept as a row (its model folder, its evaluation metrics, whether it is active) so
``/mod prefilter status`` can show them and ``/mod prefilter rollback`` can go back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prefilter_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("community", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community", "version", name="uq_prefilter_versions_community_version"),
    )
    with op.batch_alter_table("prefilter_versions", schema=None) as batch_op:
        batch_op.create_index("ix_prefilter_versions_community", ["community"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prefilter_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_prefilter_versions_community")
    op.drop_table("prefilter_versions")
