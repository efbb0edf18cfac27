"""The Alembic migrations build the schema the models describe, on a real empty SQLite file."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine

from bot.store.database import create_engine, upgrade, upgrade_sync
from bot.store.schema import Base


def test_migrations_on_an_empty_file_match_the_models(tmp_path):
    path = tmp_path / "nested" / "fresh.sqlite3"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    assert path.exists()
    engine = create_sync_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations drifted apart; write a migration: {diff}"
    tables = {r[0] for r in sqlite3.connect(path).execute("select name from sqlite_master where type='table'")}
    for table in ("servers", "policy_versions", "server_policies", "messages", "verdicts", "cases", "actions", "reviews", "audit_log"):
        assert table in tables


async def test_upgrade_is_idempotent_and_uses_wal(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"
    await upgrade(url)
    await upgrade(url)  # a second start must not fail
    engine = create_engine(url)
    async with engine.connect() as connection:
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    await engine.dispose()
    assert mode == "wal"
