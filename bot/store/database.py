"""Engine creation (SQLite in WAL mode by default) and schema upgrades through Alembic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from modbot.package_data import migrations_dir

__all__ = [
    "LIBRARY_TABLES",
    "MIGRATIONS_DIR",
    "BackupError",
    "alembic_config",
    "backup_sqlite",
    "create_engine",
    "include_name",
    "upgrade",
    "upgrade_sync",
]

#: The checkout's ``migrations/``, or the copy an installed wheel carries (``modbot.package_data``).
MIGRATIONS_DIR = migrations_dir()

#: Tables the migrations create for an adapter or a library that brings its own models (slack-sdk's
#: SQLAlchemy installation and OAuth-state stores, migration 0003; the HTTP API's clients, 0005).
#: ``modbot.store.schema`` does not describe them, so schema comparisons (``alembic revision
#: --autogenerate``, the drift test) must leave them alone.
LIBRARY_TABLES = frozenset({"slack_bots", "slack_installations", "slack_oauth_states", "http_api_clients"})


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: compare every table except the ``LIBRARY_TABLES``."""
    return not (type_ == "table" and name in LIBRARY_TABLES)


def _prepare_sqlite_path(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _without_nul(values: Any) -> Any:
    """Bound values with NUL characters removed from their strings (same container type)."""
    if isinstance(values, dict):
        if not any(isinstance(v, str) and "\x00" in v for v in values.values()):
            return values
        return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in values.items()}
    if isinstance(values, (tuple, list)):
        if not any(isinstance(v, str) and "\x00" in v for v in values):
            return values
        return type(values)(v.replace("\x00", "") if isinstance(v, str) else v for v in values)
    return values


def _strip_nul(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> Any:
    # PostgreSQL text cannot hold NUL (U+0000) and SQLite can: every string bound on either database
    # loses its NULs here, so both store the same thing (intake already removes them from message
    # texts; this covers the rest: model output, policy uploads, names, command arguments, errors).
    if executemany:
        return statement, [_without_nul(row) for row in parameters]
    return statement, _without_nul(parameters)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, NORMAL sync and a busy timeout so concurrent writers wait, not fail."""
    _prepare_sqlite_path(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30} if is_sqlite else {})
    event.listen(engine.sync_engine, "before_cursor_execute", _strip_nul, retval=True)
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


class BackupError(RuntimeError):
    """A backup cannot be made here; the message says what to do instead."""


def backup_sqlite(url: str, destination: Path) -> int:
    """A consistent copy of a live SQLite database (SQLite's online backup API); returns its size in bytes.

    The copy is a snapshot even while the bot writes (WAL readers are never blocked), made page by page
    into a temporary file beside the destination and renamed into place, so a cut-off backup never
    replaces a good one. Other databases have their own tools (PostgreSQL: ``pg_dump``).
    """
    import sqlite3

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"modbot db backup copies SQLite files; for {parsed.get_backend_name()} use its own tool "
            "(PostgreSQL: pg_dump --format=custom)"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    source_path = Path(parsed.database).expanduser()
    if not source_path.is_file():
        raise BackupError(f"no database file at {source_path}")
    destination = destination.expanduser()
    if destination.resolve() == source_path.resolve():
        raise BackupError("the backup must go to another file than the database itself")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=1024)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(destination)
    return destination.stat().st_size
