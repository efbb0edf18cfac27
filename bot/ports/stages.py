"""Ports of the judging stages: the reasoner, its transport, and the prefilter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from modbot.domain import MessageEvent, ServerRef, TokenCounts
from modbot.domain.policy import Policy
from modbot.domain.records import LabelledText

__all__ = ["Completion", "CompletionFailed", "CompletionRequest", "FinishReason", "JudgeRequest", "Judgement", "Prefilter", "PrefilterScore", "Reasoner", "ReasonerTransport", "ReasonerUnavailable", "RoutingThresholds"]


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


class FinishReason(StrEnum):
    """Why generation ended."""

    STOP = "stop"  #: the model ended its turn (a stop token)
    LENGTH = "length"  #: ``max_tokens`` (or the context window) was reached
    TIMEOUT = "timeout"  #: the request's deadline cut generation off


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A rendered prompt as token ids, and how far to generate.

    The prompt is ``prefix + suffix``. ``prefix`` (system + developer messages) is the same for every
    message judged against one policy version and effort, and ``prefix_key`` names it, so a transport
    can keep its evaluated state and evaluate only the suffix.
    """

    prefix_key: str
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    max_tokens: int
    temperature: float
    timeout_s: float

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.prefix + self.suffix

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


@dataclass(frozen=True, slots=True)
class Completion:
    """What the model generated: token ids, or (for a server that answers in text) the text.

    ``prompt_evaluated`` counts the prompt tokens actually evaluated (the rest came from a cache).
    """

    tokens: tuple[int, ...] = ()
    text: str | None = None
    prompt_tokens: int = 0
    prompt_evaluated: int = 0
    finish_reason: FinishReason = FinishReason.STOP


class CompletionFailed(RuntimeError):
    """No completion for this prompt (refused, timed out, worker died twice): the message is escalated.

    Unlike :class:`ReasonerUnavailable` (try again later), retrying the same prompt is not expected to help.
    """


@runtime_checkable
class ReasonerTransport(Protocol):
    """Runs one completion on a model: llama.cpp in a worker process, or an OpenAI-compatible server.

    Raises :class:`ReasonerUnavailable` when it cannot take the request now and
    :class:`CompletionFailed` when this prompt got no completion.
    """

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...


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

    @property
    def languages(self) -> frozenset[str]:
        """The languages (ISO 639-1) the model was trained on; others are not allowed on its score alone."""
        ...

    async def add_feedback(self, server: ServerRef, text: str, violation: bool) -> None:
        """Learn one moderator decision (uphold = violation, overturn = fine) for ``server``."""
        ...

    async def load_feedback(self, server: ServerRef, items: Iterable[LabelledText]) -> int:
        """Replay stored decisions at start-up, oldest first; returns how many were taken."""
        ...

    async def aclose(self) -> None: ...
