"""Per-server settings: a full ``ServerSettings`` of defaults with a server's ``ServerOverrides`` on top.

Inherit-or-override: every override field left ``None`` inherits the default (the settings file's
``[server_defaults]`` table). These are value objects; storing and caching them is the store's and the
moderation layer's business.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modbot.domain.messages import MessageEvent
from modbot.domain.replay import ShadowPolicy
from modbot.domain.verdicts import Decision

__all__ = ["Mode", "ServerOverrides", "ServerSettings", "ServerTerms", "exemption_reason"]

Mode = Literal["shadow", "enforce"]


class ServerTerms(BaseModel):
    """A server's own keywords/regexes for a rule, on top of its policy's lists."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    act_on_match: bool = False


class ServerSettings(BaseModel):
    """The effective settings of one server (defaults with that server's overrides applied)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "shadow"
    policy_id: str = "game-community"
    #: Prefilter scores below this are allowed without the reasoner (when no keyword matched).
    #: None: the prefilter model's own thresholds, calibrated to its target recall.
    allow_below: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Prefilter scores at or above this are acted on at once (None: the model's calibrated value).
    act_above: float | None = Field(default=None, ge=0.0, le=1.0)
    #: What a confident prefilter acts with (it names no rule, so it cannot pick a severity).
    prefilter_act_decision: Decision = Decision.FLAG
    #: The community (a training data source) whose corrections the prefilter applies; see
    #: ``modbot train-prefilter`` (None: the shared model).
    prefilter_community: str | None = Field(default=None, min_length=1, max_length=100)
    #: Reasoner violations below this confidence are flagged for review instead of acted on.
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    reasoning_effort: Literal["low", "medium", "high"] = "low"
    #: Also ask the reasoner for a rationale after an act-now keyword hit.
    reason_after_act: bool = False
    #: Send every message to the reasoner, whatever the fast stages say (small servers, audits).
    always_reason: bool = False
    #: A message in a language the prefilter model was not trained on: "escalate" never lets the
    #: prefilter allow it alone (it goes to the reasoner); "prefilter" trusts the prefilter anyway.
    unknown_language: Literal["escalate", "prefilter"] = "escalate"
    exempt_role_ids: tuple[str, ...] = ()
    exempt_channel_ids: tuple[str, ...] = ()
    moderator_role_ids: tuple[str, ...] = ()
    mod_channel_id: str | None = None
    #: How many preceding channel messages adapters attach as context (0 = none).
    context_messages: int = Field(default=0, ge=0, le=20)
    warn_users: bool = True
    default_timeout_s: int = Field(default=600, ge=0, le=28 * 86400)
    #: Per-server keyword and regex lists (regexes run on RE2, so they cannot hang the bot).
    extra_terms: tuple[ServerTerms, ...] = ()
    #: Message content (texts, context, reasoning) is purged this many days after it was received;
    #: verdict metadata (decisions, rules, stages, timings) and case statuses stay for the audit trail.
    retention_days: int = Field(default=90, ge=1, le=3650)
    #: The share of prefilter-allowed messages the reasoner audits afterwards, at low priority (needs a
    #: reasoner); the audits estimate the prefilter's live recall. 0 turns audits off.
    audit_share: float = Field(default=0.02, ge=0.0, le=1.0)
    #: A candidate policy judging live traffic beside the active one, never acted on (``/mod policy shadow``).
    shadow_policy: ShadowPolicy | None = None


class ServerOverrides(BaseModel):
    """A server's stored overrides; every field ``None`` inherits the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode | None = None
    policy_id: str | None = None
    allow_below: float | None = Field(default=None, ge=0.0, le=1.0)
    act_above: float | None = Field(default=None, ge=0.0, le=1.0)
    prefilter_act_decision: Decision | None = None
    prefilter_community: str | None = Field(default=None, min_length=1, max_length=100)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    reason_after_act: bool | None = None
    always_reason: bool | None = None
    unknown_language: Literal["escalate", "prefilter"] | None = None
    exempt_role_ids: tuple[str, ...] | None = None
    exempt_channel_ids: tuple[str, ...] | None = None
    moderator_role_ids: tuple[str, ...] | None = None
    mod_channel_id: str | None = None
    context_messages: int | None = Field(default=None, ge=0, le=20)
    warn_users: bool | None = None
    default_timeout_s: int | None = Field(default=None, ge=0, le=28 * 86400)
    extra_terms: tuple[ServerTerms, ...] | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    audit_share: float | None = Field(default=None, ge=0.0, le=1.0)
    shadow_policy: ShadowPolicy | None = None

    def apply_to(self, defaults: ServerSettings) -> ServerSettings:
        """Inherit-or-override: fields set here win, the rest come from ``defaults``."""
        changes = {name: value for name, value in self if value is not None}
        return defaults.model_copy(update=changes)

    def with_changes(self, **changes: Any) -> ServerOverrides:
        """A copy with some fields set (``None`` resets a field to inherit)."""
        return ServerOverrides.model_validate({**self.model_dump(), **changes})



def exemption_reason(event: MessageEvent, settings: ServerSettings) -> str | None:
    """Why ``event`` is not moderated at all (an exempt channel, thread or role), or None.

    The one statement of the rule: the pipeline skips such messages, and adapters may use it to avoid
    fetching context for them.
    """
    if event.channel_id in settings.exempt_channel_ids or (
        event.thread_id is not None and event.thread_id in settings.exempt_channel_ids
    ):
        return "exempt channel"
    if set(event.author_role_ids) & set(settings.exempt_role_ids):
        return "exempt role"
    return None
