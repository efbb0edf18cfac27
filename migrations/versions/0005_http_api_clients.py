"""http_api_clients: the HTTP event API's per-server tokens (hashed) and callback URLs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

The table belongs to the HTTP API adapter (``adapters/http_api/clients.py``), as the Slack tables of
0003 belong to the Slack adapter: the core's models do not describe it. ``modbot http-api token create``
writes a row per token; only the token's SHA-256 is stored, and a revoked token keeps its row (with
``revoked_at``) so the list shows what was issued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_api_clients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("http_api_clients", schema=None) as batch_op:
        batch_op.create_index("ix_http_api_clients_server_id", ["server_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("http_api_clients", schema=None) as batch_op:
        batch_op.drop_index("ix_http_api_clients_server_id")
    op.drop_table("http_api_clients")
