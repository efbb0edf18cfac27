"""``PrefilterVersions`` on SQLAlchemy: each community's trained prefilters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from modbot.ports.learning import PrefilterVersion
from modbot.store._base import StoreAdapter
from modbot.store._mapping import aware
from modbot.store.schema import PrefilterVersionRow

__all__ = ["SqlPrefilterVersions"]


def _version(row: PrefilterVersionRow) -> PrefilterVersion:
    # Timezone-aware, as every other stored time (SQLite hands them back naive).
    return PrefilterVersion(row.community, row.version, row.path, aware(row.created_at), row.active, dict(row.metrics or {}))


class SqlPrefilterVersions(StoreAdapter):
    async def add_version(self, community: str, path: str, metrics: dict[str, Any], *, active: bool) -> PrefilterVersion:
        async with self._db.writing() as session:
            last = await session.scalar(
                select(func.max(PrefilterVersionRow.version)).where(PrefilterVersionRow.community == community)
            )
            if active:
                await session.execute(
                    update(PrefilterVersionRow).where(PrefilterVersionRow.community == community).values(active=False)
                )
            row = PrefilterVersionRow(
                community=community, version=(last or 0) + 1, path=path, metrics=metrics, active=active
            )
            session.add(row)
            await session.commit()
            return _version(row)

    async def versions(self, community: str | None = None) -> list[PrefilterVersion]:
        query = select(PrefilterVersionRow).order_by(PrefilterVersionRow.community, PrefilterVersionRow.version)
        if community is not None:
            query = query.where(PrefilterVersionRow.community == community)
        async with self._db.reading() as session:
            return [_version(r) for r in await session.scalars(query)]

    async def activate(self, community: str, version: int | None) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(PrefilterVersionRow)
                .where(PrefilterVersionRow.community == community)
                .values(active=PrefilterVersionRow.version == version if version is not None else False)
            )
            await session.commit()
