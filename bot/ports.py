"""Ports: the small interfaces the core depends on. Stages, stores and adapters implement them.

Like httpx's transport, each port is a few methods that take and return domain values (never ORM rows,
never platform objects); a test fake is a small class or a function. Capabilities are declared here,
not probed with ``getattr``: a prefilter that does not learn implements the feedback methods as no-ops.

Who implements what:

* ``Reasoner`` (``bot.stages.reasoner``) over one ``ReasonerTransport`` (llama.cpp worker, HTTP server).
* ``Prefilter`` (``bot.stages.prefilter``).
* ``ActionSink``, ``ContextSource`` (each platform adapter).
* The storage ports ``MessageLog``, ``VerdictLog``, ``CaseBook``, ``ActionLog``, ``ServerConfig``,
  ``PolicyLibrary``, ``AuditLog`` (``bot.store``, one SQLAlchemy module per port).
* ``Core`` (``bot.core``): the facade adapters talk to; nothing else of the core is visible to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.domain import (
    Action,
    ActionOutcome,
    Case,
    CaseStatus,
    MessageEvent,
    MessageStatus,
    ReviewOutcome,
    ServerRef,
    TokenCounts,
)
from bot.domain.commands import Invoker, ModCommand, Reply
from bot.domain.policy import Policy
from bot.domain.records import (
    ActionRecord,
    AuditEntry,
    CasePage,
    Intake,
    LabelledText,
    PolicyRecord,
    RecordedMessage,
    SavedVerdict,
    ServerStats,
    StoredMessage,
    StoredPolicy,
    VerdictToSave,
)
from bot.domain.settings import ServerOverrides, ServerSettings

__all__ = [
    "ActionLog",
    "ActionSink",
    "AuditLog",
    "CaseBook",
    "ContextSource",
    "Core",
    "Judgement",
    "JudgeRequest",
    "MessageLog",
    "PolicyLibrary",
    "Prefilter",
    "PrefilterScore",
    "Reasoner",
    "ReasonerUnavailable",
    "ServerConfig",
    "RoutingThresholds",
    "VerdictLog",
]


# -- the reasoner -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """What the reasoner is asked: judge ``event`` against ``policy``."""

    policy: Policy
    event: MessageEvent
    reasoning_effort: str = "low"


@dataclass(frozen=True, slots=True)
class Judgement:
    """The reasoner's answer, before the core maps it onto a decision.

    ``violation`` is None when the model's output could not be parsed; ``error`` then says why and
    ``raw_output`` keeps what the model wrote, so a human can look.
    """

    violation: bool | None
    categories: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    confidence: float = 0.0
    rationale: str = ""
    reasoning: str = ""
    model: str = ""
    tokens: TokenCounts = field(default_factory=TokenCounts)
    latency_ms: float = 0.0
    truncated: bool = False
    error: str | None = None
    raw_output: str | None = None


class ReasonerUnavailable(RuntimeError):
    """The reasoner cannot take the request now (queue full, backend down); the message stays pending."""


@runtime_checkable
class Reasoner(Protocol):
    """Judges one message against a written policy (gpt-oss-safeguard or a test fake)."""

    @property
    def model_name(self) -> str: ...

    async def judge(self, request: JudgeRequest) -> Judgement: ...

    async def aclose(self) -> None: ...


# -- reasoner transport (one harmony reasoner over llama.cpp or an HTTP server) -------------------


# -- the prefilter ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrefilterScore:
    """Probability-like risk score in [0, 1] from the embedding/classifier stage."""

    score: float
    model: str = ""
    detail: str = ""


class RoutingThresholds(Protocol):
    """A prefilter's calibrated routing thresholds: below ``allow_below`` allow, at or above ``act_above`` act."""

    @property
    def allow_below(self) -> float: ...

    @property
    def act_above(self) -> float: ...


@runtime_checkable
class Prefilter(Protocol):
    """Scores every message cheaply; high recall, so that only risky ones reach the reasoner.

    It also learns from moderators' reviews (``add_feedback``, ``load_feedback``); a prefilter that
    does not learn implements those as no-ops.
    """

    async def score(
        self, policy: Policy, event: MessageEvent, normalized_text: str, *, community: str | None = None
    ) -> PrefilterScore:
        """Score ``normalized_text`` (the folded text of ``event``).

        ``community``: the server's ``prefilter_community`` setting; a prefilter trained on several
        communities' data applies that community's corrections, others ignore it.
        """
        ...

    def thresholds_for(self, community: str | None) -> RoutingThresholds | None:
        """The calibrated thresholds for a server of ``community`` (None: the model has none)."""
        ...

    async def add_feedback(self, server: ServerRef, text: str, violation: bool) -> None:
        """Learn one moderator decision (uphold = violation, overturn = fine) for ``server``."""
        ...

    async def load_feedback(self, server: ServerRef, items: Iterable[LabelledText]) -> int:
        """Replay stored decisions at start-up, oldest first; returns how many were taken."""
        ...

    async def aclose(self) -> None: ...


# -- platforms ----------------------------------------------------------------------------------


@runtime_checkable
class ActionSink(Protocol):
    """A platform's action executor: carries out one action and reports what happened.

    The ``Action`` carries everything needed (channel, case card, member notice, duration): a sink
    never calls back into the core. It never raises; failures are outcomes.
    """

    async def execute(self, action: Action) -> ActionOutcome: ...


@runtime_checkable
class ContextSource(Protocol):
    """Where an adapter reads the messages that preceded one (for the reasoner's context)."""

    async def recent(self, event: MessageEvent, limit: int) -> tuple[MessageEvent, ...]: ...


# -- storage (one SQLAlchemy module per port in bot.store) ----------------------------------------


class MessageLog(Protocol):
    """Every message revision, recorded as pending before it is judged."""

    async def record_messages(self, events: list[MessageEvent]) -> list[RecordedMessage]:
        """Record revisions in one transaction (group commit); the same revision twice is one row."""
        ...

    async def load_message(self, row_id: int) -> StoredMessage | None: ...

    async def pending_message_ids(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[int]: ...

    async def set_message_status(self, row_id: int, status: MessageStatus, error: str | None = None) -> None: ...

    async def count_messages(self, status: MessageStatus | None = None) -> int: ...

    async def forget_member(self, server: ServerRef, author_id: str) -> int:
        """Erase a member's stored content in ``server``; returns how many messages were erased."""
        ...


class VerdictLog(Protocol):
    """Verdicts (every stage's), written together with the judged status and any case they open."""

    async def save_verdicts(self, items: list[VerdictToSave]) -> list[SavedVerdict]: ...

    async def has_verdict(self, row_id: int, policy_version: str) -> bool: ...

    async def stats(self, server: ServerRef, since: datetime, days: int) -> ServerStats: ...


class CaseBook(Protocol):
    """Cases and moderators' reviews of them; every query is scoped by server."""

    async def get_case(self, server: ServerRef, case_id: int) -> Case | None: ...

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


class ServerConfig(Protocol):
    """Known servers and their stored settings overrides."""

    async def ensure_server(self, server: ServerRef, name: str = "") -> bool:
        """Register a server if it is new; True when it was created."""
        ...

    async def server_exists(self, server: ServerRef) -> bool: ...

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

    async def audit_entries(self, server: ServerRef, limit: int = 50) -> list[AuditEntry]: ...

    async def note_once(self, server: ServerRef, kind: str, detail: str = "") -> bool:
        """Remember a one-time notice; True the first time for this server and kind."""
        ...


# -- the facade adapters talk to ----------------------------------------------------------------


class Core(Protocol):
    """All an adapter may ask of the core: submit messages, run moderator commands, report servers."""

    async def submit(self, event: MessageEvent) -> Intake:
        """Accept a message: recorded as pending before anything else, then judged."""
        ...

    async def execute(self, invoker: Invoker, command: ModCommand) -> Reply:
        """Run a moderator command (permission-checked and audited in the core)."""
        ...

    async def server_joined(self, server: ServerRef, name: str = "") -> None:
        """The bot was added to (or saw) a server."""
        ...

    async def server_settings(self, server: ServerRef) -> ServerSettings:
        """A server's effective settings (context size, exemptions, moderator roles)."""
        ...

    async def is_moderator(self, invoker: Invoker) -> bool:
        """The core's own permission check, for adapters that gate buttons before deferring."""
        ...

    async def case(self, server: ServerRef, case_id: int) -> Case | None: ...

    async def case_actions(self, server: ServerRef, case_id: int) -> list[ActionRecord]: ...
