"""Storage on real SQLite files migrated by Alembic, through both write paths."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import Storage
from bot.store.database import create_engine, upgrade
from tests.store.factories import A, B


@pytest.fixture(params=["sqlite-fast-path", "generic-sqlalchemy-path"])
async def storage(tmp_path, request) -> AsyncIterator[Storage]:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.sqlite3'}"
    await upgrade(url)
    # The generic path is what other databases take; both must store exactly the same rows.
    built = Storage.from_engine(create_engine(url), sqlite_fast_path=request.param == "sqlite-fast-path")
    await built.servers.ensure_server(A, "Guild A")
    await built.servers.ensure_server(B, "Guild B")
    yield built
    await built.close()
