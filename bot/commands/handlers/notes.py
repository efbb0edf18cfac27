"""``/mod note <member> [text]``: moderators' short notes about a member, per server.

With a text, the note is stored (at most ``MAX_NOTE_CHARS``); without, the member's notes are listed,
newest first. The service audits both like any command (the audit keeps a note's first 200 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from modbot.domain.commands import Invoker, MemberNoteCommand, Reply
from modbot.domain.notes import MAX_NOTE_CHARS, MemberNote
from modbot.ports.notes import MemberNotes

__all__ = ["NoteCommands", "note_line"]

#: The newest notes a listing shows.
SHOWN = 20


def note_line(note: MemberNote) -> str:
    """One note for a listing: when, by whom, what."""
    return f"{note.created_at:%Y-%m-%d %H:%M} by {note.author_id}: {note.text}"


@dataclass(frozen=True, slots=True)
class NoteCommands:
    """Add and list member notes through the member-notes port."""

    notes: MemberNotes

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {MemberNoteCommand: self.note}

    async def note(self, invoker: Invoker, command: MemberNoteCommand) -> Reply:
        """Store a note (with text) or list the member's notes (without)."""
        if command.text is not None:
            text = " ".join(command.text.split())
            if not text:
                raise ValueError("a note needs some text")
            if len(text) > MAX_NOTE_CHARS:
                raise ValueError(f"a note can be at most {MAX_NOTE_CHARS} characters (this one has {len(text)})")
            await self.notes.add_note(invoker.server, command.member_id, invoker.user_id, text)
            return Reply(True, f"Note added about {command.member_id}", text)
        notes = await self.notes.notes_for(invoker.server, command.member_id, limit=SHOWN)
        lines = [note_line(note) for note in notes]
        return Reply(True, f"Notes about {command.member_id}", "\n".join(lines) or "No notes yet.")
