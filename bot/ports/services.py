"""What the moderator command service needs of the moderation core (implemented in ``modbot.moderation``)."""

from __future__ import annotations

from datetime import datetime
from collections.abc import Mapping
from typing import Any, Protocol

from modbot.domain import ActionKind, ActionOutcome, Case, MessageEvent, ServerRef, Verdict
from modbot.domain.figures import AuditFigures, Backlog, RecallEstimate
from modbot.domain.lint import LintReport
from modbot.domain.policy import Policy
from modbot.domain.records import ReportedCase
from modbot.domain.settings import ServerSettings

__all__ = [
    "ActivePolicies",
    "Classifier",
    "EffectiveSettings",
    "Enforcer",
    "LiveFigures",
    "MissReports",
    "PolicyLinter",
]


# -- what the moderator commands need of the moderation core ------------------------------------


class EffectiveSettings(Protocol):
    """Each server's effective settings (defaults + stored overrides), cached; writes go through here."""

    async def get(self, server: ServerRef) -> ServerSettings: ...

    async def update(self, server: ServerRef, **changes: Any) -> ServerSettings:
        """Read-modify-write of a server's overrides (``None`` for a field: inherit the default again)."""
        ...


class ActivePolicies(Protocol):
    """The policy each server judges against, cached; uploads and switches go through here."""

    async def get(self, server: ServerRef) -> Policy: ...

    async def upload(self, server: ServerRef, policy: Policy, by: str | None) -> int:
        """Store a server's own policy version (not yet active); returns its row id."""
        ...

    async def use(self, server: ServerRef, ref: str, by: str | None) -> Policy:
        """Switch a server to a visible policy (id or version); LookupError when it has none such."""
        ...

    def shipped(self) -> Mapping[str, Policy]:
        """The shipped policies by id: what an uploaded policy may ``extends``."""
        ...


class PolicyLinter(Protocol):
    """Lints a policy before it is stored (``modbot.policy_lint.lint_policy``, handed in by ``modbot.app``)."""

    def __call__(self, policy: Policy) -> LintReport: ...


class Classifier(Protocol):
    """Judges a message without recording or acting on it (``/mod policy test``, ``modbot classify``)."""

    async def classify(self, event: MessageEvent, policy: Policy, *, settings: ServerSettings | None = None) -> Verdict: ...


class Enforcer(Protocol):
    """Carries out a moderator's enforcement action on a case (planned and recorded like the bot's own)."""

    async def moderator_action(
        self, case: Case, kind: ActionKind, *, moderator_id: str, duration_s: int | None = None
    ) -> ActionOutcome:
        """Time out or ban the case's author; recorded as an action requested by ``moderator_id``."""
        ...


class MissReports(Protocol):
    """Records a moderator's report of a message the bot allowed: a case, posted to the mod channel."""

    async def report(self, event: MessageEvent, *, moderator_id: str, note: str = "") -> ReportedCase:
        """Open (or find) the case of ``event``; a new case is posted through the outbox."""
        ...


class LiveFigures(Protocol):
    """A server's live figures: its backlog, its audits, and the prefilter's recall estimated from them."""

    async def backlog(self, server: ServerRef) -> Backlog: ...

    async def audit_figures(self, server: ServerRef) -> AuditFigures: ...

    async def community_of(self, server: ServerRef) -> str:
        """The server's prefilter community: its ``prefilter_community`` setting, else its own key."""
        ...

    async def recall(self, server: ServerRef, since: datetime, *, community: bool = False) -> RecallEstimate:
        """The estimate for ``server`` alone, or (``community``) for every server of its community."""
        ...
