"""``ServerConfig`` on SQLAlchemy: known servers and their stored settings overrides."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from modbot.domain import ServerRef, utcnow
from modbot.domain.settings import ServerOverrides
from modbot.store._base import Database, StoreAdapter
from modbot.store.schema import ServerRow

__all__ = ["SqlServerConfig", "ensure_server"]


async def ensure_server(db: Database, server: ServerRef, name: str = "") -> bool:
    """Register a server if it is new (renaming it when ``name`` changed); True when it was created.

    Shared with the policy library, whose rows reference the server's.
    """
    async with db.writing() as session:
        row = await session.get(ServerRow, server.key)
        if row is not None:
            if name and row.name != name:
                row.name = name
                await session.commit()
            return False
        session.add(ServerRow(key=server.key, platform=server.platform, external_id=server.id, name=name, overrides={}))
        try:
            await session.commit()
        except IntegrityError:  # registered concurrently by another task
            return False
        return True


class SqlServerConfig(StoreAdapter):
    """Servers and their overrides (``None`` fields inherit the configured defaults)."""

    async def ensure_server(self, server: ServerRef, name: str = "") -> bool:
        """Register a server if it is new; True when it was created."""
        return await ensure_server(self._db, server, name)

    async def server_exists(self, server: ServerRef) -> bool:
        async with self._db.reading() as session:
            return await session.get(ServerRow, server.key) is not None

    async def list_servers(self) -> list[ServerRef]:
        async with self._db.reading() as session:
            keys = (await session.scalars(select(ServerRow.key).order_by(ServerRow.key))).all()
        return [ServerRef.parse(key) for key in keys]

    async def get_overrides(self, server: ServerRef) -> ServerOverrides:
        async with self._db.reading() as session:
            row = await session.get(ServerRow, server.key)
            return ServerOverrides.model_validate(row.overrides or {}) if row else ServerOverrides()

    async def set_overrides(self, server: ServerRef, overrides: ServerOverrides) -> None:
        await ensure_server(self._db, server)
        async with self._db.writing() as session:
            await session.execute(
                update(ServerRow)
                .where(ServerRow.key == server.key)
                .values(overrides=overrides.model_dump(mode="json", exclude_none=True), updated_at=utcnow())
            )
            await session.commit()
