"""Storage on real databases migrated by Alembic: SQLite files through both write paths, and PostgreSQL.

The ``postgresql`` variant runs on ``MODBOT_TEST_DATABASE_URL`` or on a throwaway local cluster
(``tests.support.pg_fixtures``); it skips, saying why, where neither is available (it fails in CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from modbot.store import Storage
from modbot.store.database import create_engine, upgrade_sync
from tests.store.factories import A, B

BACKENDS = ["sqlite-fast-path", "generic-sqlalchemy-path", "postgresql"]


@pytest.fixture(params=BACKENDS)
def database_url(tmp_path, request) -> Iterator[str]:
    """A fresh, migrated database of each backend (its URL)."""
    if request.param == "postgresql":
        yield request.getfixturevalue("fresh_postgres_url")
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 's.sqlite3'}"
    upgrade_sync(url)
    yield url


@pytest.fixture
async def storage(database_url, request) -> AsyncIterator[Storage]:
    # The generic path is what other databases take; both must store exactly the same rows.
    fast = request.node.callspec.params.get("database_url") != "generic-sqlalchemy-path"
    built = Storage.from_engine(create_engine(database_url), sqlite_fast_path=fast)
    await built.servers.ensure_server(A, "Guild A")
    await built.servers.ensure_server(B, "Guild B")
    yield built
    await built.close()
