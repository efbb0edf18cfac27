"""Verdicts: what a stage decided about one message, against one policy version."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Decision", "Stage", "TokenCounts", "Verdict"]


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
    #: A moderator reported the message as a violation the bot missed (``/mod``'s report command).
    REPORT = "report"


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
    #: Produced by an audit: the reasoner's second look at a message the prefilter had allowed
    #: (whatever it found; a case it opens says "found by audit").
    found_by_audit: bool = False

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
