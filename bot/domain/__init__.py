"""Platform-neutral value objects of the moderation core: no I/O, and no import of anything else of ours.

Everything that crosses a boundary (adapter -> core, stage -> stage, core -> store) is one of these
small frozen values; no platform object, ORM row or raw dict travels further than an adapter or a
store module.
"""

from modbot.domain.actions import Action, ActionKind, ActionOutcome, ActionTaken
from modbot.domain.cases import Case, CaseStatus, ReviewOutcome
from modbot.domain.messages import (
    Attachment,
    ContextMessage,
    MessageEvent,
    MessageStatus,
    ServerRef,
    content_hash,
    utcnow,
)
from modbot.domain.verdicts import Decision, Stage, TokenCounts, Verdict

__all__ = [
    "Action",
    "ActionKind",
    "ActionOutcome",
    "ActionTaken",
    "Attachment",
    "Case",
    "CaseStatus",
    "ContextMessage",
    "Decision",
    "MessageEvent",
    "MessageStatus",
    "ReviewOutcome",
    "ServerRef",
    "Stage",
    "TokenCounts",
    "Verdict",
    "content_hash",
    "utcnow",
]
