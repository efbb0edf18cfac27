"""Ports: the small interfaces the core depends on. Adapters and backends implement them.

Like httpx's transport, each port is one or two methods; a test fake is a small class or function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .domain import Action, ActionOutcome, MessageEvent, TokenCounts
from .policy import Policy

__all__ = [
    "ActionSink",
    "Judgement",
    "JudgeRequest",
    "Prefilter",
    "PrefilterScore",
    "Reasoner",
    "ReasonerUnavailable",
]


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


@dataclass(frozen=True, slots=True)
class PrefilterScore:
    """Probability-like risk score in [0, 1] from the embedding/classifier stage."""

    score: float
    model: str = ""
    detail: str = ""


@runtime_checkable
class Prefilter(Protocol):
    """Scores every message cheaply; high recall, so that only risky ones reach the reasoner."""

    async def score(
        self, policy: Policy, event: MessageEvent, normalized_text: str, *, community: str | None = None
    ) -> PrefilterScore:
        """Score ``normalized_text`` (the folded text of ``event``).

        ``community``: the server's ``prefilter_community`` setting; a prefilter trained on several
        communities' data applies that community's corrections, others ignore it.
        """
        ...


@runtime_checkable
class ActionSink(Protocol):
    """A platform's action executor: carries out one action and reports what happened."""

    async def execute(self, action: Action) -> ActionOutcome: ...
