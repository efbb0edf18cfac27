"""What the moderator command service needs of the moderation core (implemented in ``bot.moderation``)."""

from __future__ import annotations

from dataclasses import field
from typing import Any, Protocol

from bot.domain import ActionKind, ActionOutcome, Case, MessageEvent, ServerRef, Verdict
from bot.domain.policy import Policy
from bot.domain.settings import ServerSettings

__all__ = ["ActivePolicies", "Classifier", "EffectiveSettings", "Enforcer"]


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
