"""Live figures of a server: its backlog, its audits, and the prefilter's recall estimated from them.

The estimate is pure arithmetic on counts the store returns (``RecallCounts``):

* ``allowed`` (A): messages the prefilter allowed (its own allow verdicts, audits not counted);
* ``caught`` (C): messages a fast stage or the reasoner judged a violation, minus the ones whose case a
  moderator overturned, plus error escalations a moderator upheld;
* ``audits``: audited allowed messages and how many were violations (a review of an audit's case decides).

The audited share that were violations (m) estimates the miss rate of the prefilter's allows, so the
prefilter missed about m·A violations and its recall is C / (C + m·A). The interval is a Wilson score
interval on m (95 %), carried through that formula (recall falls as m rises); A and C are counts, taken
as known. Audits sampled at different shares are weighted by 1 / share (a ratio estimate), the interval
then uses Kish's effective sample size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "AuditFigures",
    "AuditTally",
    "Backlog",
    "RecallCounts",
    "RecallEstimate",
    "estimate_recall",
    "wilson_interval",
]

#: 95 % two-sided.
Z_95 = 1.959964


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
    """Audits sampled at one share: how many were done and how many found a violation."""

    share: float
    audited: int
    violations: int


@dataclass(frozen=True, slots=True)
class RecallCounts:
    """What the store counts for a recall estimate over some servers and a period."""

    caught: int
    allowed: int
    audits: tuple[AuditTally, ...] = ()

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


def _recall(caught: int, missed: float) -> float | None:
    if caught + missed <= 0:
        return None
    return caught / (caught + missed)


def estimate_recall(counts: RecallCounts, scope: str = "") -> RecallEstimate:
    """C / (C + m·A) with its interval; see the module's docstring for the method."""
    tallies = [t for t in counts.audits if t.audited > 0 and t.share > 0]
    if not tallies:
        return RecallEstimate(scope, counts, None, None, None, None)
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
    )
