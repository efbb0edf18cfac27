"""Slack installs move to slack-sdk's own SQLAlchemy stores, OAuth state is persisted too

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00

The Slack adapter keeps its OAuth installations (``slack_installations``, ``slack_bots``) and the
``state`` of installs in progress (``slack_oauth_states``) in the tables slack-sdk's SQLAlchemy stores
read, so an install survives a restart and the core's store knows nothing about Slack. The columns
are those of slack-sdk 3.x (``SQLAlchemyInstallationStore.build_*_table``), written out here because
a migration must not change when the library does.

The old append-only ``installations`` table is carried over: the newest row of each workspace user
becomes its installation, the newest row of each workspace its bot (unless its token was revoked).
The Slack client id was not stored, so the rows are written with ``client_id = ''`` and the adapter
claims them for its own client id when it starts (``OAuthStores.adopt_unclaimed``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The client id of carried-over rows until the adapter claims them.
UNCLAIMED = ""

_BOT_COLUMNS = (
    "app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token", "bot_id", "bot_user_id",
    "bot_scopes", "bot_refresh_token", "bot_token_expires_at", "is_enterprise_install", "installed_at",
)
_INSTALLATION_COLUMNS = (
    *_BOT_COLUMNS, "enterprise_url", "user_id", "user_token", "user_scopes", "user_refresh_token",
    "user_token_expires_at", "incoming_webhook_url", "incoming_webhook_channel", "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url", "token_type",
)


def _bot_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("enterprise_name", sa.String(200)),
        sa.Column("team_id", sa.String(32)),
        sa.Column("team_name", sa.String(200)),
        sa.Column("bot_token", sa.String(200)),
        sa.Column("bot_id", sa.String(32)),
        sa.Column("bot_user_id", sa.String(32)),
        sa.Column("bot_scopes", sa.String(1000)),
        sa.Column("bot_refresh_token", sa.String(200)),
        sa.Column("bot_token_expires_at", sa.DateTime()),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    bots = op.create_table("slack_bots", *_bot_columns())
    op.create_index("slack_bots_idx", "slack_bots", ["client_id", "enterprise_id", "team_id", "installed_at"])
    installations = op.create_table(
        "slack_installations",
        *_bot_columns(),
        sa.Column("enterprise_url", sa.String(200)),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("user_token", sa.String(200)),
        sa.Column("user_scopes", sa.String(1000)),
        sa.Column("user_refresh_token", sa.String(200)),
        sa.Column("user_token_expires_at", sa.DateTime()),
        sa.Column("incoming_webhook_url", sa.String(200)),
        sa.Column("incoming_webhook_channel", sa.String(200)),
        sa.Column("incoming_webhook_channel_id", sa.String(200)),
        sa.Column("incoming_webhook_configuration_url", sa.String(200)),
        sa.Column("token_type", sa.String(32)),
    )
    op.create_index(
        "slack_installations_idx",
        "slack_installations",
        ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"],
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime(), nullable=False),
    )
    _carry_over(installations, bots)
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_index("ix_installations_lookup")
    op.drop_table("installations")


def _carry_over(installations: sa.Table, bots: sa.Table) -> None:
    old = sa.table(
        "installations",
        sa.column("id", sa.Integer),
        sa.column("platform", sa.String),
        sa.column("enterprise_id", sa.String),
        sa.column("team_id", sa.String),
        sa.column("user_id", sa.String),
        sa.column("data", sa.JSON),
    )
    rows = op.get_bind().execute(sa.select(old).where(old.c.platform == "slack").order_by(old.c.id.desc())).all()
    newest_of_user: dict[tuple, dict[str, Any]] = {}
    newest_of_team: dict[tuple, dict[str, Any]] = {}
    for row in rows:  # newest first
        values = _row_values(row.data or {}, team_id=row.team_id)
        newest_of_user.setdefault((row.enterprise_id, row.team_id, row.user_id), values)
        newest_of_team.setdefault((row.enterprise_id, row.team_id), values)
    if newest_of_user:
        op.bulk_insert(installations, [{k: v[k] for k in ("client_id", *_INSTALLATION_COLUMNS)} for v in newest_of_user.values()])
    live_bots = [v for v in newest_of_team.values() if v["bot_token"]]  # a revoked bot token stays revoked
    if live_bots:
        op.bulk_insert(bots, [{k: v[k] for k in ("client_id", *_BOT_COLUMNS)} for v in live_bots])


def _row_values(data: dict[str, Any], *, team_id: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {name: data.get(name) for name in _INSTALLATION_COLUMNS}
    values.update(
        client_id=UNCLAIMED,
        app_id=data.get("app_id") or "",
        team_id=team_id,  # the old key: None for an org-wide install, as slack-sdk's store expects
        user_id=data.get("user_id") or "",
        is_enterprise_install=bool(data.get("is_enterprise_install")),
        bot_scopes=_scopes(data.get("bot_scopes")),
        user_scopes=_scopes(data.get("user_scopes")),
        installed_at=_when(data.get("installed_at")) or datetime.now(UTC).replace(tzinfo=None),
        bot_token_expires_at=_when(data.get("bot_token_expires_at")),
        user_token_expires_at=_when(data.get("user_token_expires_at")),
    )
    return values


def _scopes(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return ",".join(str(scope) for scope in value)
    return value or None


def _when(value: Any) -> datetime | None:
    # slack-sdk keeps epoch seconds in its models and naive UTC datetimes in its tables.
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)
    return None


def downgrade() -> None:
    # Installs made since cannot go back into the old table's shape; they are dropped with the tables.
    op.create_table(
        "installations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.create_index("ix_installations_lookup", ["platform", "enterprise_id", "team_id"], unique=False)
    op.drop_table("slack_oauth_states")
    op.drop_index("slack_installations_idx", table_name="slack_installations")
    op.drop_table("slack_installations")
    op.drop_index("slack_bots_idx", table_name="slack_bots")
    op.drop_table("slack_bots")
