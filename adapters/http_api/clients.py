"""Per-server API clients: their tokens (hashed) and callback URLs, in the adapter's own table.

``http_api_clients`` (created by migration 0005) lives in the bot's database but belongs to this
adapter, as Slack's OAuth tables belong to the Slack adapter: the core knows nothing of it. A token is
shown once, when it is made; only its SHA-256 is stored, so a copy of the database lets nobody in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .auth import hash_token

__all__ = ["ApiClient", "ClientStore", "IssuedToken", "SchemaMissing", "TABLE_NAME", "clients_table"]

TABLE_NAME = "http_api_clients"

_metadata = sa.MetaData()

#: The table as migration 0005 creates it (the migration spells it out itself, as migrations must).
clients_table = sa.Table(
    TABLE_NAME,
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("server_id", sa.String(64), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("callback_url", sa.String(2048), nullable=True),
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class SchemaMissing(RuntimeError):
    """The database has no ``http_api_clients`` table yet."""

    def __init__(self) -> None:
        super().__init__(f"the {TABLE_NAME} table is missing: run `modbot db upgrade` first")


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were written in UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ApiClient:
    """One per-server token's row (never the token itself)."""

    id: int
    server_id: str
    callback_url: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: the only moment its plain text exists."""

    token: str
    client: ApiClient


def _client(row: sa.Row) -> ApiClient:
    return ApiClient(
        id=row.id,
        server_id=row.server_id,
        callback_url=row.callback_url,
        label=row.label or "",
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        revoked_at=_aware(row.revoked_at),
    )


class ClientStore:
    """The ``http_api_clients`` table on the bot's database, with an engine of its own (``aclose``)."""

    def __init__(self, database_url: str, *, engine: AsyncEngine | None = None):
        if engine is None:
            # SQLite: wait for the core's writers instead of failing with "database is locked".
            is_sqlite = make_url(database_url).get_backend_name() == "sqlite"
            engine = create_async_engine(database_url, connect_args={"timeout": 30} if is_sqlite else {})
        self.engine = engine

    async def aclose(self) -> None:
        """Close the store's connections."""
        await self.engine.dispose()

    async def check_schema(self) -> None:
        """Raise ``SchemaMissing`` unless migration 0005 has run on this database."""
        async with self.engine.connect() as connection:
            present = await connection.run_sync(lambda sync: sa.inspect(sync).has_table(TABLE_NAME))
        if not present:
            raise SchemaMissing()

    async def create(self, server_id: str, *, callback_url: str | None = None, label: str = "") -> IssuedToken:
        """Make a new token for ``server_id``; the returned plain token is not stored anywhere."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.engine.begin() as connection:
            result = await connection.execute(
                clients_table.insert().values(
                    server_id=server_id, token_hash=hash_token(token), callback_url=callback_url, label=label, created_at=now
                )
            )
            row_id = result.inserted_primary_key[0]  # type: ignore[index]
        return IssuedToken(token, ApiClient(row_id, server_id, callback_url, label, now))

    async def find_token(self, token: str) -> ApiClient | None:
        """The active client whose token this is, or None (unknown or revoked)."""
        query = sa.select(clients_table).where(
            clients_table.c.token_hash == hash_token(token), clients_table.c.revoked_at.is_(None)
        )
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return _client(row) if row is not None else None

    async def clients(self, server_id: str | None = None, *, include_revoked: bool = True) -> list[ApiClient]:
        """Clients (all servers, or one), oldest first."""
        query = sa.select(clients_table).order_by(clients_table.c.id)
        if server_id is not None:
            query = query.where(clients_table.c.server_id == server_id)
        if not include_revoked:
            query = query.where(clients_table.c.revoked_at.is_(None))
        async with self.engine.connect() as connection:
            return [_client(row) for row in (await connection.execute(query)).all()]

    async def revoke(self, server_id: str, client_id: int | None = None) -> int:
        """Revoke a server's active tokens (or just one of them); returns how many were revoked."""
        query = clients_table.update().where(clients_table.c.server_id == server_id, clients_table.c.revoked_at.is_(None))
        if client_id is not None:
            query = query.where(clients_table.c.id == client_id)
        async with self.engine.begin() as connection:
            result = await connection.execute(query.values(revoked_at=datetime.now(UTC)))
        return max(result.rowcount or 0, 0)
