"""What every storage adapter of one engine shares: the engine, its sessions and the SQLite write lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from modbot.store.claims import Holder

__all__ = ["Database", "StoreAdapter"]


class Database:
    """One engine and what goes with it; every storage adapter of a process shares one instance.

    ``sqlite_fast_path``: bulk writes on SQLite go straight to the driver (see ``modbot.store._bulk``).
    Tests turn it off to check that the generic SQLAlchemy path (what other databases take) stores
    exactly the same rows.
    """

    def __init__(self, engine: AsyncEngine, *, sqlite_fast_path: bool = True):
        self.engine = engine
        #: Who this storage claims rows as (pending messages, outbox actions): see ``modbot.store.claims``.
        self.holder = Holder()
        self.is_postgresql = engine.dialect.name == "postgresql"
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        is_sqlite = engine.dialect.name == "sqlite"
        self.bulk_via_driver = sqlite_fast_path and is_sqlite
        # SQLite allows one writer at a time; concurrent writers on separate connections spin in
        # SQLite's busy handler (sleeping up to 100 ms a try). Queueing writers here is much faster,
        # and the lock is shared by all the adapters because they write to the same file.
        self._write_lock: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if is_sqlite else contextlib.nullcontext()
        )

    def reading(self) -> AsyncSession:
        """A session for reads (``async with``); it never commits."""
        return self._sessions()

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a write transaction (serialised on SQLite); the caller commits."""
        async with self._write_lock:
            async with self._sessions() as session:
                yield session

    async def close(self) -> None:
        self.holder.leave()
        await self.engine.dispose()


class StoreAdapter:
    """Base of the per-port adapters: each one reads and writes through the shared ``Database``."""

    def __init__(self, database: Database):
        self._db = database
