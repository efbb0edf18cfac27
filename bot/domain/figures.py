"""Live figures of a server: its backlog, its audits, and the prefilter's recall estimated from them.

The estimate is arithmetic on counts the store returns (``RecallCounts``):

* ``allowed`` (A): messages the prefilter allowed (its own allow verdicts, audits not counted);
* ``caught`` (C): messages a fast stage or the reasoner judged a violation, minus the ones whose case a
  moderator overturned, plus error escalations a moderator upheld and escalated messages a moderator
  reported after the reasoner let them through; ``escalated`` counts the escalated
  messages the reasoner judged, which of them a moderator decided, and how often the reasoner's answers
  on the rest are wrong (``ReasonerTally``): the part of C that rests on those answers;
* ``audits``: audited allowed messages and how many were violations (a review of an audit's case, or a
  report of the message, decides), with the same error rates (``AuditTally``).

The audited share that were violations (m) estimates the miss rate of the prefilter's allows, so the
prefilter missed about m·A violations and its recall is C / (C + m·A). With a reasoner that is always
right, the interval is a Wilson score interval on m (95 %), carried through that formula (recall falls
as m rises); C and A are counts, taken as known. Audits sampled at different shares are weighted by
1 / share (a ratio estimate), the interval then uses Kish's effective sample size.

A reasoner that errs bends both: its wrong "violation" answers on fine audited messages count as misses,
and its answers on escalated messages are C. Each answer's error rate is eps = 1 − its confidence
(within [0, 0.4]); a review or a report is certain. Then m is the maximum-likelihood rate of
``modbot.domain.noisy_rate`` (about (k − eps·n) / (1 − 2·eps) of n audits, k said violation), and so is the
true share of violations among the escalated messages the reasoner judged (C's part that rests on it).
Each has a score interval (the Wilson interval's generalisation, equal to it when eps is 0). When both
are uncertain each interval is at 97.5 %, so that, the two being independent samples, both hold with
probability 0.975² > 0.95; the recall's bounds are then taken at the interval's corners (recall rises
with the caught count and falls with m), which holds whenever both intervals do. With eps 0 everywhere
the figures are the uncorrected ones. Not covered: a confidence that is not the answer's error rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modbot.domain.noisy_rate import Evidence, RateEstimate, estimate_rate

__all__ = [
    "AuditFigures",
    "AuditTally",
    "Backlog",
    "ReasonerTally",
    "RecallCounts",
    "RecallEstimate",
    "estimate_recall",
    "wilson_interval",
]

#: 95 % two-sided.
Z_95 = 1.959964
#: 97.5 % two-sided: two independent intervals at this level both hold with probability > 0.95.
Z_975 = 2.241403


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits for one server: messages not judged yet, actions not settled, and how fast it drains."""

    pending_messages: int
    unsettled_actions: int
    #: Messages judged per minute over the last ``rate_window_s`` (None: nothing judged then).
    judged_per_minute: float | None
    rate_window_s: float

    @property
    def drain_s(self) -> float | None:
        """Seconds until the pending messages are judged at the recent rate (0: none pending; None: unknown)."""
        if self.pending_messages == 0:
            return 0.0
        if not self.judged_per_minute:
            return None
        return self.pending_messages / self.judged_per_minute * 60.0


@dataclass(frozen=True, slots=True)
class AuditFigures:
    """How audits run for one server in this process (counts since start; stored audits are in the recall)."""

    enabled: bool
    #: Why audits are off ("no reasoner configured", ...), or "" when they run.
    reason: str
    share: float
    done: int = 0
    dropped: int = 0
    queued: int = 0


@dataclass(frozen=True, slots=True)
class AuditTally:
    """Audits sampled at one share: how many were done and how many found a violation.

    ``violations`` counts what decided each audit (a moderator where one did, else the reasoner's
    answer); ``reviewed`` of them were decided by a moderator (a review or a report), ``reviewed_violations``
    of those were violations; ``violation_eps`` and ``allow_eps`` are the mean error rates of the
    reasoner's answers that decided the rest (0: taken as right).
    """

    share: float
    audited: int
    violations: int
    reviewed: int = 0
    reviewed_violations: int = 0
    violation_eps: float = 0.0
    allow_eps: float = 0.0

    def evidence(self) -> Evidence:
        """The audits as a group sampled at weight 1 / share."""
        return _evidence(1.0 / self.share, self.audited, self.violations, self.reviewed,
                         self.reviewed_violations, self.violation_eps, self.allow_eps)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReasonerTally:
    """The escalated messages the reasoner judged (not audits), counted as ``AuditTally`` counts audits.

    ``violations`` of them are in ``RecallCounts.caught``; the rest of ``caught`` (fast stages, upheld
    error escalations) is certain.
    """

    judged: int = 0
    violations: int = 0
    reviewed: int = 0
    reviewed_violations: int = 0
    violation_eps: float = 0.0
    allow_eps: float = 0.0

    def evidence(self) -> Evidence:
        """The judged messages as one group."""
        return _evidence(1.0, self.judged, self.violations, self.reviewed,
                         self.reviewed_violations, self.violation_eps, self.allow_eps)  # fmt: skip


def _evidence(weight: float, n: int, violations: int, reviewed: int, upheld: int, e1: float, e0: float) -> Evidence:
    said_violation = max(violations - upheld, 0)
    cleared = reviewed - upheld
    return Evidence(weight, upheld, cleared, said_violation, max(n - reviewed - said_violation, 0), e1, e0)


@dataclass(frozen=True, slots=True)
class RecallCounts:
    """What the store counts for a recall estimate over some servers and a period."""

    caught: int
    allowed: int
    audits: tuple[AuditTally, ...] = ()
    escalated: ReasonerTally = ReasonerTally()

    @property
    def audited(self) -> int:
        return sum(t.audited for t in self.audits)

    @property
    def audit_violations(self) -> int:
        return sum(t.violations for t in self.audits)


@dataclass(frozen=True, slots=True)
class RecallEstimate:
    """The prefilter's recall estimated from audits and reviews (None figures: not enough data)."""

    #: What the figure is for: a server key, or ``community <name>``.
    scope: str
    counts: RecallCounts
    miss_rate: float | None
    recall: float | None
    low: float | None
    high: float | None
    method: str = "Wilson 95% interval on the audit violation rate, carried to C / (C + m·A)"
    #: The violations among the messages the prefilter escalated, corrected for the reasoner's errors
    #: (``counts.caught`` when its answers are taken as right).
    caught_estimate: float | None = None

    @property
    def audits(self) -> int:
        return self.counts.audited

    def describe(self) -> str:
        """``0.96 (0.91–0.99, 140 audits)``, or why there is no figure yet."""
        if self.recall is None or self.low is None or self.high is None:
            if self.counts.audited == 0:
                return "unknown (no audits yet)"
            return f"unknown ({self.counts.audited} audits, nothing caught or allowed yet)"
        return f"{self.recall:.2f} ({self.low:.2f}–{self.high:.2f}, {self.counts.audited} audits)"


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``trials`` may be an effective, fractional size)."""
    if trials <= 0:
        return 0.0, 1.0
    p = min(max(successes / trials, 0.0), 1.0)
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _recall(caught: float, missed: float) -> float | None:
    if caught + missed <= 0:
        return None
    return caught / (caught + missed)


_CORRECTED = (
    "maximum likelihood with the reasoner's error rates (1 - confidence) and reviews; score intervals "
    "(97.5 % each when both are uncertain) carried to C / (C + m·A)"
)


def estimate_recall(counts: RecallCounts, scope: str = "") -> RecallEstimate:
    """C / (C + m·A) with its interval; see the module's docstring for the method."""
    tallies = [t for t in counts.audits if t.audited > 0 and t.share > 0]
    if not tallies:
        return RecallEstimate(scope, counts, None, None, None, None)
    audits = [t.evidence() for t in tallies]
    judged = counts.escalated.evidence()
    if not judged.noisy and not any(g.noisy for g in audits):
        return _exact(counts, tallies, scope)
    z = Z_975 if judged.noisy and any(g.noisy for g in audits) else Z_95
    m = estimate_rate(audits, z)
    assert m is not None  # tallies hold audits
    certain = counts.caught - counts.escalated.violations
    share = estimate_rate([judged], z) if judged.noisy else None
    if share is None:  # the reasoner's answers on escalated messages are taken as right
        said = counts.escalated.violations / max(counts.escalated.judged, 1)
        share = RateEstimate(said, said, said)
    caught = [certain + r * counts.escalated.judged for r in (share.rate, share.low, share.high)]
    recall = _recall(caught[0], m.rate * counts.allowed)
    if recall is None:
        return RecallEstimate(scope, counts, m.rate, None, None, None, _CORRECTED, caught[0])
    low = _recall(caught[1], m.high * counts.allowed)
    high = _recall(caught[2], m.low * counts.allowed)
    return RecallEstimate(
        scope, counts, m.rate, recall, low if low is not None else 0.0, high if high is not None else 1.0,
        _CORRECTED, caught[0],
    )  # fmt: skip


def _exact(counts: RecallCounts, tallies: list[AuditTally], scope: str) -> RecallEstimate:
    """The estimate when every answer is taken as right (Wilson on Kish's effective size)."""
    weight = sum(t.audited / t.share for t in tallies)
    weight_sq = sum(t.audited / (t.share * t.share) for t in tallies)
    miss_rate = sum(t.violations / t.share for t in tallies) / weight
    effective = weight * weight / weight_sq
    low_m, high_m = wilson_interval(miss_rate * effective, effective)
    recall = _recall(counts.caught, miss_rate * counts.allowed)
    if recall is None:
        return RecallEstimate(scope, counts, miss_rate, None, None, None)
    # Recall falls as the miss rate rises: the high miss rate gives the low recall.
    low = _recall(counts.caught, high_m * counts.allowed)
    high = _recall(counts.caught, low_m * counts.allowed)
    return RecallEstimate(
        scope,
        counts,
        miss_rate,
        recall,
        low if low is not None else 0.0,
        high if high is not None else 1.0,
        caught_estimate=float(counts.caught),
    )
