"""Cases: verdicts worth a moderator's attention, and what moderators decided about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from modbot.domain.messages import MessageEvent
from modbot.domain.verdicts import Verdict

__all__ = ["Case", "CaseStatus", "ReviewOutcome"]


class CaseStatus(StrEnum):
    """A case's state. A review decides it; an enforcement action (ban, timeout) never changes it."""

    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class ReviewOutcome(StrEnum):
    """A moderator's review of a case: the bot was right (uphold) or wrong (overturn)."""

    UPHOLD = "uphold"
    OVERTURN = "overturn"

    @property
    def case_status(self) -> CaseStatus:
        return CaseStatus.UPHELD if self is ReviewOutcome.UPHOLD else CaseStatus.OVERTURNED


@dataclass(frozen=True, slots=True)
class Case:
    """A verdict worth a moderator's attention, as posted to the mod channel."""

    id: int
    event: MessageEvent
    verdict: Verdict
    status: CaseStatus = CaseStatus.OPEN
    created_at: datetime | None = None
    #: Platform reference of the posted case message (e.g. "channel_id/message_id"), once posted.
    posted_ref: str | None = None
    #: The case's number in its server (1, 2, 3...): what moderators see and type. ``id`` is global and
    #: internal (its gaps would reveal other servers' volume); buttons carry it, scoped by server.
    number: int = 0

    @property
    def display_number(self) -> int:
        """The number moderators see (the server's own numbering; ``id`` for a case built without one)."""
        return self.number or self.id
