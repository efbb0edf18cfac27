"""The member-notes port (``modbot.store.member_notes`` implements it): moderators' notes about members."""

from __future__ import annotations

from typing import Protocol

from modbot.domain import ServerRef
from modbot.domain.notes import MemberNote

__all__ = ["MemberNotes"]


class MemberNotes(Protocol):
    """Notes about a server's members, scoped by server (no note is read across servers)."""

    async def add_note(self, server: ServerRef, member_id: str, author_id: str, text: str) -> MemberNote:
        """Store a note about ``member_id``; returns it as stored."""
        ...

    async def notes_for(self, server: ServerRef, member_id: str, limit: int = 50) -> list[MemberNote]:
        """The newest ``limit`` notes about ``member_id`` in ``server``, newest first."""
        ...
