"""Storage ports: what the core keeps, cut by concern. ``modbot.store`` has one SQLAlchemy module per port;
every method takes and returns domain values, never ORM rows, and every read is scoped by server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from modbot.domain import (
    Action,
    ActionOutcome,
    Case,
    CaseStatus,
    MessageEvent,
    MessageStatus,
    ReviewOutcome,
    ServerRef,
    Verdict,
)
from modbot.domain.figures import RecallCounts
from modbot.domain.policy import Policy
from modbot.domain.records import (
    ActionRecord,
    AuditEntry,
    CasePage,
    Label,
    LabelledText,
    PlannedAction,
    PolicyRecord,
    RecordedMessage,
    SavedReport,
    SavedVerdict,
    ServerStats,
    StoredMessage,
    StoredPolicy,
    VerdictToSave,
)
from modbot.domain.replay import JudgedMessage
from modbot.domain.settings import ServerOverrides

__all__ = ["ActionLog", "ActionOutbox", "AuditLog", "CaseBook", "MessageLog", "PolicyLibrary", "ServerConfig", "VerdictLog"]


# -- storage (one SQLAlchemy module per port in modbot.store) ----------------------------------------


class MessageLog(Protocol):
    """Every message revision, recorded as pending before it is judged."""

    async def record_messages(self, events: list[MessageEvent]) -> list[RecordedMessage]:
        """Record revisions in one transaction (group commit); the same revision twice is one row."""
        ...

    async def load_message(self, row_id: int) -> StoredMessage | None: ...

    async def pending_message_ids(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[int]: ...

    async def claim_pending(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[tuple[int, str]]:
        """Claim pending rows for this process, as (row id, server key) in the order of :meth:`pending_message_ids`.

        Only rows no live process holds (unclaimed, lease over, holder dead) or already this process's
        are taken; several processes sweeping one database never get the same row. A row recorded by
        ``record_messages`` starts claimed by its recorder.
        """
        ...

    async def renew_claims(self, row_ids: set[int] | frozenset[int]) -> None:
        """Extend this process's claims on these rows (queued or being judged): nobody else takes them."""
        ...

    async def set_message_status(self, row_id: int, status: MessageStatus, error: str | None = None) -> None: ...

    async def count_failed_attempt(self, row_id: int, error: str, max_attempts: int) -> bool:
        """Count a failure of a pending row (it goes after fresh rows when swept); True when it is now failed."""
        ...

    async def count_messages(self, status: MessageStatus | None = None, server: ServerRef | None = None) -> int:
        """How many revisions there are (with ``status``; of ``server``, or of every server)."""
        ...

    async def recent_messages(self, server: ServerRef, limit: int = 100) -> list[StoredMessage]:
        """A server's newest recorded revisions, oldest of them first (console, tests, audits)."""
        ...

    async def latest_revision(self, server: ServerRef, message_id: str) -> tuple[StoredMessage, str] | None:
        """The newest recorded revision of one platform message of ``server`` and its status detail."""
        ...

    async def forget_member(self, server: ServerRef, author_id: str) -> int:
        """Erase a member's stored content in ``server``; returns how many messages were erased."""
        ...

    async def purge_content(self, server: ServerRef, received_before: datetime) -> int:
        """Purge the content of ``server``'s messages received before a time (retention); returns how many.

        Pending messages are kept whole (they are still to be judged); decisions and statuses stay.
        """
        ...


class VerdictLog(Protocol):
    """Verdicts (every stage's), written together with the judged status and any case they open."""

    async def save_verdicts(self, items: list[VerdictToSave]) -> list[SavedVerdict]: ...

    async def has_verdict(self, row_id: int, policy_version: str) -> bool: ...

    async def verdicts_for(self, server: ServerRef, row_id: int) -> list[Verdict]:
        """Every verdict stored for one message revision of ``server``, in the order they were stored."""
        ...

    async def stats(self, server: ServerRef, since: datetime, days: int) -> ServerStats:
        """Figures of the bot's own verdicts (audits and moderators' reports are counted apart)."""
        ...

    async def judged_messages(
        self, server: ServerRef, limit: int = 500, *, since: datetime | None = None, candidate_version: str | None = None
    ) -> list[JudgedMessage]:
        """The newest ``limit`` judged revisions of ``server``, oldest first, each with the verdict the bot
        acted on and a moderator's review; with ``candidate_version``, only those a shadow policy of that
        version judged (since ``since``), with its verdict (``policy replay``, ``/mod policy diff``)."""
        ...

    async def judged_count(self, server: ServerRef, since: datetime) -> int:
        """Messages of ``server`` judged since ``since`` (first verdicts; audits and reports left out)."""
        ...

    async def save_report(
        self,
        event: MessageEvent,
        verdict: Verdict,
        *,
        shadow: bool,
        actions: tuple[Action, ...] = (),
        requested_by: str | None = None,
    ) -> SavedReport:
        """A moderator's report of ``event``, in one transaction: the revision recorded (judged) if new,
        ``verdict`` stored, a case opened and ``actions`` planned with it. A revision that already has a
        case keeps it: nothing is stored and that case is returned (``created`` False)."""
        ...

    async def labels(
        self, servers: Sequence[ServerRef] | None = None, *, since: datetime | None = None, limit: int = 10_000
    ) -> list[Label]:
        """The labels of the bot's own work, one per message revision, oldest first (the newest ``limit``).

        Every reasoner verdict (an audit's too) is a label; a report labels its message unsafe; a
        review (uphold: unsafe, overturn: safe) overrides both. Erased texts are left out; ``servers``
        None means every server.
        """
        ...

    async def recall_counts(self, servers: Sequence[ServerRef], since: datetime) -> RecallCounts:
        """Allowed, caught and audited messages of ``servers`` since ``since`` (see ``modbot.domain.figures``)."""
        ...


class CaseBook(Protocol):
    """Cases and moderators' reviews of them; every query is scoped by server."""

    async def get_case(self, server: ServerRef, case_id: int) -> Case | None: ...

    async def get_case_by_number(self, server: ServerRef, number: int) -> Case | None:
        """A case by its number in ``server`` (what moderators see and type); the global id stays internal."""
        ...

    async def list_cases(
        self,
        server: ServerRef,
        *,
        status: CaseStatus | None = CaseStatus.OPEN,
        author_id: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> CasePage: ...

    async def set_case_status(self, server: ServerRef, case_id: int, status: CaseStatus) -> bool: ...

    async def set_case_posted_ref(self, server: ServerRef, case_id: int, ref: str) -> None: ...

    async def add_review(
        self, server: ServerRef, case_id: int, moderator_id: str, outcome: ReviewOutcome, note: str = ""
    ) -> int: ...

    async def reviewed_examples(self, server: ServerRef, limit: int = 500) -> list[LabelledText]: ...

    async def reviewed_examples_by_server(self, limit_per_server: int = 500) -> dict[ServerRef, list[LabelledText]]:
        """Every server's reviewed examples, oldest first (replayed into the prefilter at start-up)."""
        ...


class ActionLog(Protocol):
    """Every action tried, with its outcome and the platform's reference for what it did."""

    async def record_action(self, action: Action, outcome: ActionOutcome, *, requested_by: str | None = None) -> int: ...

    async def actions_for_case(self, server: ServerRef, case_id: int) -> list[ActionRecord]: ...

    async def recent_actions(self, server: ServerRef, limit: int = 100) -> list[ActionRecord]:
        """A server's newest actions, oldest of them first."""
        ...


class ActionOutbox(Protocol):
    """Actions planned but not yet carried out; a verdict's are written with it (``VerdictToSave.actions``).

    Each row keeps its idempotency key until it is settled, so a retry or a restart repeats the same key.
    """

    async def plan_actions(self, actions: list[Action], *, requested_by: str | None = None) -> list[PlannedAction]:
        """Store actions to carry out (a moderator's), each with a new idempotency key; plan order kept."""
        ...

    async def due_actions(self, limit: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[PlannedAction]:
        """Unsettled actions that may be claimed now (due, or held by a dead process), oldest first."""
        ...

    async def claim(self, planned: PlannedAction) -> bool:
        """Take an action for one attempt (it is leased to this process); False if another live process
        holds it, it is not due, or it is settled. A live process's lease is never broken."""
        ...

    async def settle(self, planned: PlannedAction, action: Action, outcome: ActionOutcome) -> int | None:
        """Record the final outcome in the action log and take the action out of the outbox, atomically.

        None when another runner settled it first (then nothing is recorded twice).
        """
        ...

    async def retry_later(self, planned: PlannedAction, at: datetime, detail: str) -> None:
        """Count a failed attempt and set when to try again."""
        ...

    async def count_unsettled(self, server: ServerRef | None = None) -> int: ...


class ServerConfig(Protocol):
    """Known servers and their stored settings overrides."""

    async def ensure_server(self, server: ServerRef, name: str = "") -> bool:
        """Register a server if it is new; True when it was created."""
        ...

    async def server_exists(self, server: ServerRef) -> bool: ...

    async def list_servers(self) -> list[ServerRef]:
        """Every known server (to find the members of a prefilter community)."""
        ...

    async def get_overrides(self, server: ServerRef) -> ServerOverrides: ...

    async def set_overrides(self, server: ServerRef, overrides: ServerOverrides) -> None: ...


class PolicyLibrary(Protocol):
    """Stored policy versions: shipped ones (visible to all) and each server's own uploads."""

    async def add_policy(self, policy: Policy, server: ServerRef | None = None, uploaded_by: str | None = None) -> int: ...

    async def activate_policy(self, server: ServerRef, policy_row_id: int, by: str | None = None) -> None: ...

    async def active_policy(self, server: ServerRef) -> Policy | None: ...

    async def find_policy(self, server: ServerRef, ref: str) -> StoredPolicy | None: ...

    async def list_policies(self, server: ServerRef) -> list[PolicyRecord]: ...


class AuditLog(Protocol):
    """Moderator commands (allowed and refused) and one-time notices."""

    async def audit(
        self, server: ServerRef, actor_id: str, command: str, arguments: dict[str, Any], *, allowed: bool, result: str
    ) -> None: ...

    async def audit_entries(self, server: ServerRef, limit: int = 50, offset: int = 0) -> list[AuditEntry]:
        """The server's entries, newest first, skipping the newest ``offset`` (``/mod audit`` pages)."""
        ...

    async def count_audit_entries(self, server: ServerRef) -> int: ...

    async def note_once(self, server: ServerRef, kind: str, detail: str = "") -> bool:
        """Remember a one-time notice; True the first time for this server and kind."""
        ...
