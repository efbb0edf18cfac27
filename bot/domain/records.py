"""What the core stores and reads back: small values the storage ports take and return.

The store maps these to and from its rows; no ORM row ever leaves ``modbot.store``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from modbot.domain.actions import Action, ActionKind
from modbot.domain.cases import Case
from modbot.domain.messages import MessageEvent, MessageStatus, ServerRef
from modbot.domain.policy import Policy
from modbot.domain.verdicts import Verdict

__all__ = [
    "ActionRecord",
    "AuditEntry",
    "CasePage",
    "Intake",
    "IntakeStatus",
    "Label",
    "LabelSource",
    "LabelledText",
    "MessageVerdict",
    "PLANNED_ACTION_LEASE_S",
    "PlannedAction",
    "PolicyRecord",
    "RecordedMessage",
    "ReportedCase",
    "SavedReport",
    "SavedVerdict",
    "ServerStats",
    "StoredMessage",
    "StoredPolicy",
    "VerdictToSave",
]


class IntakeStatus(StrEnum):
    """What ``submit`` did with an event. The values are part of the HTTP event API's contract."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"
    OVERFLOW = "overflow"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Intake:
    """What ``submit`` did with an event."""

    status: IntakeStatus
    row_id: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """The result of recording a message revision: its row id, and whether it was new."""

    row_id: int
    created: bool
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A recorded message revision read back."""

    row_id: int
    event: MessageEvent
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """Where a platform message stands: its newest revision's status and newest verdict (if judged).

    ``detail`` says why a revision was skipped (an exemption) or failed.
    """

    row_id: int
    status: MessageStatus
    verdict: Verdict | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VerdictToSave:
    """One verdict to store; the message is marked judged and, with ``open_case``, a case opened."""

    row_id: int
    server: ServerRef
    verdict: Verdict
    shadow: bool
    open_case: bool
    #: Actions planned for the verdict, stored in the outbox in the same transaction (so a crash
    #: between judging and acting loses none); they get the case opened here.
    actions: tuple[Action, ...] = ()
    #: For an audit's verdict: the share of allowed messages audited when this one was sampled (its
    #: sampling probability; a label's weight is its inverse). None for every other verdict.
    audit_share: float | None = None
    #: A shadow policy's verdict (``/mod policy shadow``): stored beside the live one, never acted on,
    #: and left out of the bot's own figures and labels.
    candidate: bool = False


@dataclass(frozen=True, slots=True)
class SavedVerdict:
    """Ids of a stored verdict and of the case it opened (None: none opened, or not looked up)."""

    verdict_id: int | None
    case_id: int | None
    #: The verdict's actions as stored in the outbox, in plan order.
    planned: tuple[PlannedAction, ...] = ()


#: How long a planned action belongs to the runner that planned or claimed it; after that (its runner
#: died mid-attempt) another runner may claim it. Longer than any one attempt takes.
PLANNED_ACTION_LEASE_S = 300.0


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """An action in the outbox: planned, not yet carried out (or to be retried).

    ``action`` carries its idempotency key but not its case (``case_id``): the case is read when the
    action runs, so a case post shows the case as it is then.
    """

    id: int
    action: Action
    case_id: int | None
    attempts: int
    created_at: datetime
    requested_by: str | None = None


@dataclass(frozen=True, slots=True)
class CasePage:
    """One page of a server's cases (newest first) and how many there are in all."""

    cases: tuple[Case, ...]
    total: int


@dataclass(frozen=True, slots=True)
class LabelledText:
    """A text with a human's label: True = violation. Moderators' reviews produce these."""

    text: str
    violation: bool


class LabelSource(StrEnum):
    """Where a label came from, strongest last: a moderator's review overrides everything else."""

    REASONER = "reasoner"  #: the reasoner's verdict on a message the fast stages sent on
    AUDIT = "audit"  #: the reasoner's verdict on a sampled prefilter-allowed message
    REPORT = "report"  #: a moderator reported the message as a missed violation
    REVIEW = "review"  #: a moderator upheld (unsafe) or overturned (safe) a case


@dataclass(frozen=True, slots=True)
class Label:
    """One labelled message from the bot's own work, for training the prefilter (``VerdictLog.labels``).

    ``weight`` undoes the audits' sampling: an audited message stands for ``1 / audit_share`` allowed
    messages (also once a review decided it); every other label weighs 1.
    """

    text: str
    unsafe: bool
    category: str | None
    source: LabelSource
    weight: float
    created_at: datetime
    server: ServerRef
    confidence: float = 1.0
    #: The message revision's row id (one label per revision).
    row_id: int = 0

    def as_labelled_text(self) -> LabelledText:
        return LabelledText(self.text, self.unsafe)


@dataclass(frozen=True, slots=True)
class SavedReport:
    """A moderator's report stored: the case it opened, or the case the message already had."""

    case_id: int
    created: bool
    #: The report's actions (its case post) as stored in the outbox; empty when nothing was created.
    planned: tuple[PlannedAction, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportedCase:
    """What a report did: the case of the reported message, and whether the report opened it."""

    case: Case
    created: bool


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A stored policy version as visible to one server."""

    row_id: int
    policy_id: str
    title: str
    version: str
    builtin: bool
    created_at: datetime
    active: bool = False


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A stored policy version with its row id (what ``activate_policy`` takes)."""

    row_id: int
    policy: Policy


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Moderation figures of one server over a period."""

    days: int
    messages_seen: int
    escalated: int
    acted: int
    overturned: int
    upheld: int
    open_cases: int
    median_latency_ms: float | None
    decisions: dict[str, int] = field(default_factory=dict)
    #: Messages moderators reported as missed violations (their report verdicts).
    reported: int = 0


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """An action as it was tried, with its outcome and the platform's reference for what it did."""

    id: int
    server: ServerRef
    kind: ActionKind
    case_id: int | None
    ok: bool
    detail: str
    permission_problem: bool
    platform_ref: str | None
    requested_by: str | None
    created_at: datetime
    channel_id: str | None = None
    message_id: str | None = None
    user_id: str | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderator command as the audit log keeps it."""

    id: int
    server: ServerRef
    actor_id: str
    command: str
    arguments: dict[str, Any]
    allowed: bool
    result: str
    created_at: datetime
