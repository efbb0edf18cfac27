"""actions.platform_ref; reviews are only uphold/overturn, and cases follow their latest review

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:30:00

The old Ban/Timeout buttons wrote 'ban'/'timeout' rows into ``reviews`` and flipped the case to
'upheld', even after an overturn, so the prefilter relearned overturned messages as violations. A
ban or timeout is an action (the ``actions`` table already records each one), not a review: those
rows go, and every case takes its status from its latest real review again ('open' with none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The values as this revision knows them (a migration never imports the code's enums, which move on).
_UPHOLD, _OVERTURN = "uphold", "overturn"
_OPEN, _UPHELD, _OVERTURNED = "open", "upheld", "overturned"


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_ref", sa.String(length=256), nullable=True))

    reviews = sa.table("reviews", sa.column("id", sa.Integer), sa.column("case_id", sa.Integer), sa.column("outcome", sa.String))
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("status", sa.String))
    op.execute(reviews.delete().where(reviews.c.outcome.not_in((_UPHOLD, _OVERTURN))))
    latest = (
        sa.select(sa.case((reviews.c.outcome == _UPHOLD, _UPHELD), else_=_OVERTURNED))
        .where(reviews.c.case_id == cases.c.id)
        .order_by(reviews.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    op.execute(cases.update().values(status=sa.func.coalesce(latest, _OPEN)))


def downgrade() -> None:
    # The deleted review rows cannot come back (the actions table still holds what was done).
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("platform_ref")
