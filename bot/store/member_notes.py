"""``MemberNotes`` on SQLAlchemy: moderators' notes about members, scoped by server."""

from __future__ import annotations

from sqlalchemy import select

from modbot.domain import ServerRef
from modbot.domain.notes import MAX_NOTE_CHARS, MemberNote
from modbot.store._base import StoreAdapter
from modbot.store.schema import MemberNoteRow

__all__ = ["SqlMemberNotes"]


def _note(row: MemberNoteRow) -> MemberNote:
    return MemberNote(row.member_id, row.author_id, row.text, row.created_at)


class SqlMemberNotes(StoreAdapter):
    """Notes per (server, member), newest first."""

    async def add_note(self, server: ServerRef, member_id: str, author_id: str, text: str) -> MemberNote:
        row = MemberNoteRow(server_key=server.key, member_id=member_id, author_id=author_id, text=text[:MAX_NOTE_CHARS])
        async with self._db.writing() as session:
            session.add(row)
            await session.commit()
            return _note(row)

    async def notes_for(self, server: ServerRef, member_id: str, limit: int = 50) -> list[MemberNote]:
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(MemberNoteRow)
                .where(MemberNoteRow.server_key == server.key, MemberNoteRow.member_id == member_id)
                .order_by(MemberNoteRow.id.desc())
                .limit(limit)
            )
            return [_note(row) for row in rows]
