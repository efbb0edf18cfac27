"""A moderator's note about a member (``/mod note``): stored per server, shown with the member's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["MAX_NOTE_CHARS", "MemberNote"]

#: The longest note kept (a short remark, not a dossier).
MAX_NOTE_CHARS = 500


@dataclass(frozen=True, slots=True)
class MemberNote:
    """One note: about whom, by which moderator, what, and when."""

    member_id: str
    author_id: str
    text: str
    created_at: datetime
