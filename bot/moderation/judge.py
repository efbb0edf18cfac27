"""The stateless stage runner: keyword/regex → prefilter → reasoner → decision.

``Judge`` touches no storage and no platform; the pipeline records what it returns. Routing follows
OpenAI's layered deployment for gpt-oss-safeguard: cheap high-recall stages see all traffic and only
uncertain or risky messages reach the reasoner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from modbot.domain import Decision, MessageEvent, Stage, Verdict
from modbot.domain.policy import Policy
from modbot.domain.settings import ServerSettings
from modbot.ports import Judgement, JudgeRequest, Prefilter, Reasoner
from modbot.stages.keywords import KeywordMatcher, KeywordResult
from modbot.stages.language import UnknownLanguagePolicy, identify, needs_reasoner

__all__ = ["Judge", "Routing", "VerdictObservers", "decision_for_rules", "verdict_from_judgement"]

log = logging.getLogger(__name__)


class VerdictObservers:
    """Callbacks told of each verdict (metrics); one that raises is logged and never breaks judging."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Verdict], None]] = []

    def add(self, callback: Callable[[Verdict], None]) -> None:
        self._callbacks.append(callback)

    def remove(self, callback: Callable[[Verdict], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __call__(self, verdict: Verdict) -> None:
        for callback in self._callbacks:
            try:
                callback(verdict)
            except Exception:
                log.exception("a verdict observer failed")


@dataclass(frozen=True, slots=True)
class Routing:
    """Per-server routing thresholds (see ``ServerSettings`` for their meaning)."""

    #: None: the prefilter's calibrated thresholds (or the fallbacks below when it has none).
    allow_below: float | None = None
    act_above: float | None = None
    prefilter_act_decision: Decision = Decision.FLAG
    min_confidence: float = 0.5
    reasoning_effort: str = "low"
    always_reason: bool = False
    #: Which community's corrections a prefilter trained on several communities applies (None: shared).
    prefilter_community: str | None = None
    #: "escalate": the prefilter never allows a message in a language it was not trained on by itself.
    unknown_language: UnknownLanguagePolicy = "escalate"

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Routing:
        return cls(
            allow_below=settings.allow_below,
            act_above=settings.act_above,
            prefilter_act_decision=settings.prefilter_act_decision,
            min_confidence=settings.min_confidence,
            reasoning_effort=settings.reasoning_effort,
            always_reason=settings.always_reason,
            prefilter_community=settings.prefilter_community,
            unknown_language=settings.unknown_language,
        )


def decision_for_rules(policy: Policy, rule_ids: tuple[str, ...]) -> tuple[Decision, tuple[str, ...]]:
    """The strictest decision among the rules' severities, and the categories they belong to."""
    decision = Decision.ALLOW
    categories: list[str] = []
    for rule_id in rule_ids:
        rule = policy.rule(rule_id)
        if rule is None:
            continue
        candidate = policy.decision_for(rule.severity)
        if candidate.severity_rank > decision.severity_rank:
            decision = candidate
        category = policy.category_of(rule_id)
        if category and category not in categories:
            categories.append(category)
    return decision, tuple(categories)


def verdict_from_judgement(policy: Policy, judgement: Judgement, routing: Routing) -> Verdict:
    """Map the reasoner's answer onto a decision using the policy's severities."""
    common = dict(
        stage=Stage.REASONER,
        policy_version=policy.version,
        confidence=judgement.confidence,
        rationale=judgement.rationale,
        reasoning=judgement.reasoning,
        model=judgement.model,
        latency_ms=judgement.latency_ms,
        tokens=judgement.tokens,
        truncated=judgement.truncated,
        error=judgement.error,
        raw_output=judgement.raw_output,
    )
    if judgement.violation is None:
        # Unparseable or missing answer: a human decides, with the raw text and the error kept.
        rationale = judgement.rationale or f"The model's answer could not be used ({judgement.error}); needs a human."
        return Verdict(decision=Decision.ESCALATE, **{**common, "rationale": rationale})
    if not judgement.violation:
        return Verdict(decision=Decision.ALLOW, categories=judgement.categories, **common)
    decision, categories = decision_for_rules(policy, judgement.rule_ids)
    categories = categories or judgement.categories
    if decision is Decision.ALLOW:
        # A violation without a usable rule id: someone should look, but nothing automatic happens.
        decision = Decision.FLAG
    elif judgement.confidence < routing.min_confidence and decision is not Decision.ESCALATE:
        decision = Decision.FLAG
    return Verdict(decision=decision, categories=categories, rule_ids=judgement.rule_ids, **common)


#: Used when neither the server nor the prefilter model gives thresholds.
FALLBACK_ALLOW_BELOW = 0.2
FALLBACK_ACT_ABOVE = 0.98


class Judge:
    """Runs the stages for one message. Owns nothing but references to the optional backends."""

    def __init__(self, *, prefilter: Prefilter | None = None, reasoner: Reasoner | None = None):
        self.prefilter = prefilter
        self.reasoner = reasoner
        #: Told of every verdict this judge produces (messages, audits, follow-ups, one-off tests).
        self.observers = VerdictObservers()

    def _calibrated(self, community: str | None) -> tuple[float, float]:
        # A trained prefilter carries thresholds calibrated to its target recall (one set per kind of
        # server when it was trained with communities); servers inherit them.
        calibrated = self.prefilter.thresholds_for(community) if self.prefilter is not None else None
        if calibrated is None:
            return FALLBACK_ALLOW_BELOW, FALLBACK_ACT_ABOVE
        return calibrated.allow_below, calibrated.act_above

    def thresholds(self, routing: Routing) -> tuple[float, float]:
        """(allow below, act above) for a server: its own values, else the prefilter's calibrated ones."""
        calibrated_allow, calibrated_act = self._calibrated(routing.prefilter_community)
        allow = routing.allow_below if routing.allow_below is not None else calibrated_allow
        act = routing.act_above if routing.act_above is not None else calibrated_act
        return allow, act

    async def judge(
        self,
        event: MessageEvent,
        policy: Policy,
        matcher: KeywordMatcher,
        routing: Routing = Routing(),
        *,
        force_reasoner: bool = False,
    ) -> Verdict:
        """Judge one message. ``force_reasoner`` sends it to the reasoner whatever the fast stages say."""
        started = time.perf_counter()
        keywords = matcher.scan(event.text)
        verdict = await self._route(event, policy, keywords, routing, force_reasoner)
        verdict = replace(verdict, latency_ms=(time.perf_counter() - started) * 1000)
        self.observers(verdict)
        return verdict

    async def _route(
        self, event: MessageEvent, policy: Policy, keywords: KeywordResult, routing: Routing, force_reasoner: bool
    ) -> Verdict:
        base = dict(policy_version=policy.version)
        if keywords.normalized.is_empty and not event.attachments:
            return Verdict(Decision.ALLOW, Stage.KEYWORD, rationale="Empty message.", **base)

        if keywords.act_now and not force_reasoner:
            act_rules = tuple(dict.fromkeys(h.rule_id for h in keywords.hits if h.act_on_match))
            decision, categories = decision_for_rules(policy, act_rules)
            return Verdict(
                decision=decision if decision is not Decision.ALLOW else Decision.FLAG,
                stage=Stage.KEYWORD,
                categories=categories,
                rule_ids=act_rules,
                confidence=1.0,
                rationale=_describe_hits(keywords, act_rules, "Matched a rule that is acted on at once"),
                **base,
            )

        from modbot.moderation.intake import TRUNCATION_MARK  # noqa: PLC0415 (one-block change)

        if TRUNCATION_MARK in event.text and not force_reasoner:
            # Cut at intake: the part no stage saw may hold the violation (padding evasion), so the
            # fast stages may not allow it alone: the reasoner decides, or a moderator without one.
            if self.reasoner is None:
                return Verdict(
                    Decision.FLAG, Stage.KEYWORD, categories=decision_for_rules(policy, keywords.rule_ids)[1],
                    rule_ids=keywords.rule_ids, confidence=0.5,
                    rationale="Too long: cut before judging; needs review (no reasoner configured).", **base,
                )  # fmt: skip
            routing = replace(routing, always_reason=True)

        score = None
        unknown_language = False
        allow_below, act_above = self.thresholds(routing)
        if self.prefilter is not None:
            result = await self.prefilter.score(
                policy, event, keywords.normalized.folded, community=routing.prefilter_community
            )
            score = result.score
            if not force_reasoner and not routing.always_reason:
                if not keywords.matched and score < allow_below:
                    # A low score on a language the model never saw says nothing, so such a message
                    # goes on. Identified only for messages the prefilter would allow (cached, µs).
                    guess = identify(keywords.normalized.clean)
                    if not needs_reasoner(guess, self.prefilter.languages, routing.unknown_language):
                        return Verdict(
                            Decision.ALLOW, Stage.PREFILTER, confidence=1.0 - score, score=score, model=result.model,
                            **base,
                        )  # fmt: skip
                    unknown_language = True
                if score >= act_above and (self.reasoner is None or not keywords.matched):
                    decision, categories = decision_for_rules(policy, keywords.rule_ids)
                    return Verdict(
                        decision=routing.prefilter_act_decision,
                        stage=Stage.PREFILTER,
                        categories=categories,
                        rule_ids=keywords.rule_ids,
                        confidence=score,
                        score=score,
                        model=result.model,
                        rationale=f"The prefilter scored this message {score:.2f} (act threshold {act_above:.2f}).",
                        **base,
                    )
        elif not keywords.matched and not force_reasoner and not routing.always_reason:
            return Verdict(Decision.ALLOW, Stage.KEYWORD, rationale="No keyword or pattern matched.", **base)

        if self.reasoner is None:
            # Risky, but nothing can reason about it here: a moderator decides.
            stage = Stage.KEYWORD if keywords.matched else Stage.PREFILTER
            _, categories = decision_for_rules(policy, keywords.rule_ids)
            if unknown_language:
                return Verdict(
                    Decision.FLAG, Stage.PREFILTER, confidence=0.5, score=score,
                    rationale="In a language the prefilter was not trained on; needs review (no reasoner configured).",
                    **base,
                )  # fmt: skip
            return Verdict(
                decision=Decision.FLAG if keywords.matched or (score or 0) >= allow_below else Decision.ALLOW,
                stage=stage,
                categories=categories,
                rule_ids=keywords.rule_ids,
                confidence=score if score is not None else 0.5,
                score=score,
                rationale=_describe_hits(keywords, keywords.rule_ids, "Needs review (no reasoner configured)")
                if keywords.matched
                else f"The prefilter scored this message {score:.2f}; needs review (no reasoner configured).",
                **base,
            )

        judgement = await self.reasoner.judge(JudgeRequest(policy, event, routing.reasoning_effort))
        verdict = verdict_from_judgement(policy, judgement, routing)
        return replace(verdict, score=score)


def _describe_hits(keywords: KeywordResult, rule_ids: tuple[str, ...], lead: str) -> str:
    """A moderator-facing summary: the matched words per rule (regexes are named, not printed)."""
    parts = []
    for rule_id in rule_ids:
        hits = [h for h in keywords.hits if h.rule_id == rule_id]
        terms = list(dict.fromkeys(repr(h.term) for h in hits if h.kind == "keyword"))
        if any(h.kind == "regex" for h in hits):
            terms.append("a pattern")
        parts.append(f"{rule_id} ({', '.join(terms)})")
    return f"{lead}: {'; '.join(parts)}."
