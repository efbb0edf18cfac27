"""Platform-neutral value objects of the moderation core.

Everything that crosses a boundary (adapter -> core, stage -> stage, core -> store) is one of these
small frozen dataclasses; no platform object and no raw dict travels further than an adapter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

__all__ = [
    "Action",
    "ActionKind",
    "ActionOutcome",
    "Attachment",
    "Case",
    "ContextMessage",
    "Decision",
    "MessageEvent",
    "ServerRef",
    "Stage",
    "TokenCounts",
    "Verdict",
    "content_hash",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware current time; the core never stores naive datetimes."""
    return datetime.now(timezone.utc)


def content_hash(text: str) -> str:
    """Stable short hash of message text, used to recognise a message that was already judged."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ServerRef:
    """One community on one platform: a Discord guild or a Slack workspace."""

    platform: str
    id: str

    @property
    def key(self) -> str:
        """The single string that identifies this server in storage, e.g. ``discord:1234``."""
        return f"{self.platform}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> ServerRef:
        platform, sep, ident = key.partition(":")
        if not sep or not platform or not ident:
            raise ValueError(f"not a server key (expected 'platform:id'): {key!r}")
        return cls(platform, ident)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of a file attached to a message; the content itself is never downloaded."""

    filename: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ContextMessage:
    """A message that preceded the one under judgment; shown to the reasoner as context only."""

    author_id: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A new or edited chat message, converted from the platform's own payload by an adapter."""

    server: ServerRef
    channel_id: str
    message_id: str
    author_id: str
    text: str
    timestamp: datetime = field(default_factory=utcnow)
    thread_id: str | None = None
    author_role_ids: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    reply_to_id: str | None = None
    context: tuple[ContextMessage, ...] = ()
    edited: bool = False

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


class Decision(StrEnum):
    """What should happen to a message. The string values are part of the CLI's JSON contract."""

    ALLOW = "allow"
    FLAG = "flag"
    REMOVE = "remove"
    REMOVE_AND_TIMEOUT = "remove_and_timeout"
    ESCALATE = "escalate"

    @property
    def severity_rank(self) -> int:
        """Ordering used when several stages disagree: the stricter decision wins."""
        return _DECISION_RANK[self]


_DECISION_RANK = {
    Decision.ALLOW: 0,
    Decision.FLAG: 1,
    Decision.ESCALATE: 2,
    Decision.REMOVE: 3,
    Decision.REMOVE_AND_TIMEOUT: 4,
}


class Stage(StrEnum):
    """The pipeline stage that produced a verdict."""

    EXEMPT = "exempt"
    KEYWORD = "keyword"
    PREFILTER = "prefilter"
    REASONER = "reasoner"
    INTAKE = "intake"


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token accounting of one reasoner call.

    ``prompt_evaluated`` is what the model actually computed; with prefix reuse it is much smaller
    than ``prompt``.
    """

    prompt: int = 0
    prompt_evaluated: int = 0
    completion: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of judging one message against one policy version."""

    decision: Decision
    stage: Stage
    policy_version: str
    categories: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    confidence: float = 0.0
    rationale: str = ""
    reasoning: str = ""
    model: str = ""
    latency_ms: float = 0.0
    tokens: TokenCounts = field(default_factory=TokenCounts)
    truncated: bool = False
    error: str | None = None
    raw_output: str | None = None
    score: float | None = None

    def to_public_dict(self) -> dict[str, object]:
        """The JSON shape printed by ``modbot classify``; never includes the raw reasoning."""
        return {
            "decision": self.decision.value,
            "categories": list(self.categories),
            "rule_ids": list(self.rule_ids),
            "stage": self.stage.value,
            "rationale": self.rationale,
            "policy_version": self.policy_version,
            "confidence": round(self.confidence, 4),
            "model": self.model,
            "latency_ms": round(self.latency_ms, 3),
            "tokens": {
                "prompt": self.tokens.prompt,
                "prompt_evaluated": self.tokens.prompt_evaluated,
                "completion": self.tokens.completion,
            },
            "truncated": self.truncated,
            "error": self.error,
            "score": self.score,
        }


class ActionKind(StrEnum):
    """Things the bot can do on a platform."""

    DELETE = "delete"
    TIMEOUT = "timeout"
    WARN = "warn"
    BAN = "ban"
    POST_CASE = "post_case"
    NOTIFY_MODS = "notify_mods"


@dataclass(frozen=True, slots=True)
class Case:
    """A verdict worth a moderator's attention, as posted to the mod channel."""

    id: int
    event: MessageEvent
    verdict: Verdict
    status: str = "open"
    created_at: datetime | None = None
    #: Platform reference of the posted case message (e.g. "channel_id/message_id"), once posted.
    posted_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One instruction for a platform's action executor."""

    kind: ActionKind
    server: ServerRef
    channel_id: str | None = None
    message_id: str | None = None
    user_id: str | None = None
    reason: str = ""
    duration_s: int | None = None
    case: Case | None = None


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What happened when an action was carried out; recorded for every action, failures too."""

    ok: bool
    detail: str = ""
    #: A refusal that will repeat until a human fixes something (missing permission, role order).
    permission_problem: bool = False
    platform_ref: str | None = None
