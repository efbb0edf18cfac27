"""Engine creation (SQLite in WAL mode by default) and schema upgrades through Alembic."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["LIBRARY_TABLES", "MIGRATIONS_DIR", "alembic_config", "create_engine", "include_name", "upgrade", "upgrade_sync"]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

#: Tables the migrations create for an adapter or a library that brings its own models (slack-sdk's
#: SQLAlchemy installation and OAuth-state stores, migration 0003; the HTTP API's clients, 0005).
#: ``bot.store.schema`` does not describe them, so schema comparisons (``alembic revision
#: --autogenerate``, the drift test) must leave them alone.
LIBRARY_TABLES = frozenset({"slack_bots", "slack_installations", "slack_oauth_states", "http_api_clients"})


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: compare every table except the ``LIBRARY_TABLES``."""
    return not (type_ == "table" and name in LIBRARY_TABLES)


def _prepare_sqlite_path(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, NORMAL sync and a busy timeout so concurrent writers wait, not fail."""
    _prepare_sqlite_path(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30} if is_sqlite else {})
    if is_sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this project's migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Upgrade the schema (blocking; runs its own event loop for the async driver)."""
    _prepare_sqlite_path(url)
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the schema from async code: Alembic's async env needs a loop of its own, so use a thread."""
    await asyncio.to_thread(upgrade_sync, url, revision)
