"""Real SQLite faults for the bot's own engine: another connection's exclusive lock, and a full disk.

* ``ExclusiveLock`` — a second connection (as a backup tool or a careless ``sqlite3`` shell would) holds
  ``BEGIN EXCLUSIVE``: in WAL mode readers go on, every writer waits ``busy_timeout`` and then gets
  ``SQLITE_BUSY`` ("database is locked").
* ``DiskQuota`` — ``PRAGMA max_page_count`` on each of the bot's connections caps the file where it is
  now: any write that needs a new page fails with ``SQLITE_FULL`` ("database or disk is full"), exactly
  what a full disk gives. ``free()`` lifts the cap, as freeing space on the disk would.

Both act on the bot's engine through SQLAlchemy's ``connect`` event (after the production pragmas), and
recycle the pool so every connection has them; nothing of the core is replaced.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import event

__all__ = ["DiskQuota", "ExclusiveLock", "set_busy_timeout"]


async def set_busy_timeout(services, milliseconds: int) -> None:
    """Give the bot's connections a shorter ``busy_timeout`` (production: 5 s) so a test waits less.

    The fault is the same: a lock held longer than the timeout makes the write fail with SQLITE_BUSY.
    """
    engine = services.storage._database.engine

    def pragma(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
        cursor.close()

    event.listen(engine.sync_engine, "connect", pragma)
    await engine.dispose()  # pooled connections are reopened with the listener's pragma


class ExclusiveLock:
    """``with ExclusiveLock(path):`` — another process-like connection holds the write lock meanwhile."""

    def __init__(self, path: Path):
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> ExclusiveLock:
        self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=5, check_same_thread=False)
        self._connection.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._connection is not None
        self._connection.execute("ROLLBACK")
        self._connection.close()


class DiskQuota:
    """Caps the bot's database file at its current size (+ ``slack_pages``) until ``free()``."""

    def __init__(self, services, *, slack_pages: int = 0):
        self._engine = services.storage._database.engine
        self._path = Path(services.storage._database.engine.url.database)
        self._slack = slack_pages
        self.full = False
        event.listen(self._engine.sync_engine, "connect", self._pragma)

    def _pragma(self, dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        if not self.full:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count={pages + self._slack}")
        cursor.close()

    async def fill(self) -> None:
        """From now on the disk is full for the bot's writes that need space."""
        self.full = True
        await self._engine.dispose()

    async def free(self) -> None:
        """Space is back."""
        self.full = False
        await self._engine.dispose()
