"""``AuditLog`` on SQLAlchemy: moderator commands (allowed and refused) and one-time notices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from modbot.domain import ServerRef
from modbot.domain.records import AuditEntry
from modbot.store._base import StoreAdapter
from modbot.store._mapping import audit_entry
from modbot.store.schema import AuditRow, NoticeRow

__all__ = ["SqlAuditLog"]

#: A command's result text is for people; the first part is what anyone reads.
_RESULT_LIMIT = 2000


class SqlAuditLog(StoreAdapter):
    """The audit trail and the notices already sent, both scoped by server."""

    async def audit(
        self, server: ServerRef, actor_id: str, command: str, arguments: dict[str, Any], *, allowed: bool, result: str
    ) -> None:
        row = AuditRow(
            server_key=server.key,
            actor_id=actor_id,
            command=command,
            arguments=arguments,
            allowed=allowed,
            result=result[:_RESULT_LIMIT],
        )
        async with self._db.writing() as session:
            session.add(row)
            await session.commit()

    async def audit_entries(self, server: ServerRef, limit: int = 50, offset: int = 0) -> list[AuditEntry]:
        """The server's audit entries, newest first (skipping the newest ``offset``)."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(AuditRow)
                .where(AuditRow.server_key == server.key)
                .order_by(AuditRow.id.desc())
                .offset(max(offset, 0))
                .limit(limit)
            )
            return [audit_entry(row) for row in rows]

    async def count_audit_entries(self, server: ServerRef) -> int:
        async with self._db.reading() as session:
            return int(await session.scalar(select(func.count(AuditRow.id)).where(AuditRow.server_key == server.key)) or 0)

    async def note_once(self, server: ServerRef, kind: str, detail: str = "") -> bool:
        """Remember a one-time notice; True the first time for this server and kind, False afterwards."""
        async with self._db.writing() as session:
            session.add(NoticeRow(server_key=server.key, kind=kind, detail=detail))
            try:
                await session.commit()
            except IntegrityError:  # the unique (server, kind) index says it was sent before
                return False
            return True
