"""A violation rate from verdicts of which some are wrong: reviews (certain) and a reasoner's answers.

A group of messages is what is known of them: some were decided by a moderator (a review, or a report:
certain), the rest carry only the reasoner's answer, wrong with probability eps (``error_rate`` of the
answer's confidence). With p the group's true violation rate, an answer is "violation" with probability
θ = eps + p·(1 − 2·eps). Moderators decide the cases the reasoner opened, so which messages are certain
depends on the answer: counting a review in place of the answer and correcting the rest as if they were
a random sample would be biased (the unreviewed "allow" answers hold almost no violations). The
likelihood of all of it stays right (the selection depends only on what was observed), so:

* the rate is the maximum-likelihood p (the root of the score U(p), which falls as p rises; with no
  review and one eps it is the moment estimate (k/n − eps) / (1 − 2·eps), clipped to [0, 1]);
* the interval is the score (Rao) interval {p : U(p)² ≤ z²·V(p)}, V the score's variance: for
  certain messages alone it is exactly the Wilson interval, for answers alone it is the Wilson interval
  on θ mapped to p. Groups sampled at different shares are weighted (U sums w·u, V sums w²·v), which with
  certain messages alone is today's Wilson interval on Kish's effective sample size.

Assumed: each answer's error rate is what its confidence says, and the same for violations and fine
messages; within a group and answer, the mean eps stands for each answer's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_ERROR_RATE", "Evidence", "RateEstimate", "error_rate", "estimate_rate"]

#: An answer is never taken as more often wrong than this (0.5 would say nothing at all).
MAX_ERROR_RATE = 0.4
_TINY = 1e-12


def error_rate(confidence: float | None) -> float:
    """How often an answer given with this confidence is wrong: 1 − confidence, within [0, 0.4]."""
    if confidence is None or math.isnan(confidence):
        return MAX_ERROR_RATE
    return min(max(1.0 - confidence, 0.0), MAX_ERROR_RATE)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One group of messages sampled at the same weight, and what is known of them."""

    weight: float = 1.0
    #: Decided by a moderator: violations, and not violations.
    upheld: int = 0
    cleared: int = 0
    #: The reasoner's answers alone, and their mean error rates.
    said_violation: int = 0
    said_allow: int = 0
    violation_eps: float = 0.0
    allow_eps: float = 0.0

    @property
    def size(self) -> int:
        return self.upheld + self.cleared + self.said_violation + self.said_allow

    @property
    def noisy(self) -> bool:
        """Whether any answer here may be wrong."""
        return (self.said_violation > 0 and self.violation_eps > 0) or (self.said_allow > 0 and self.allow_eps > 0)


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """A rate and its interval."""

    rate: float
    low: float
    high: float


def _score(groups: Sequence[Evidence], p: float) -> tuple[float, float]:
    """(U(p), V(p)): the weighted score and its variance."""
    u = v = 0.0
    certain = 1.0 / (p * (1.0 - p))
    for g in groups:
        gu = g.upheld / p - g.cleared / (1.0 - p)
        gv = (g.upheld + g.cleared) * certain
        for count, eps, said in ((g.said_violation, g.violation_eps, True), (g.said_allow, g.allow_eps, False)):
            if count:
                slope = 1.0 - 2.0 * eps
                theta = eps + p * slope
                gu += count * slope / theta if said else -count * slope / (1.0 - theta)
                gv += count * slope * slope / (theta * (1.0 - theta))
        u += g.weight * gu
        v += g.weight * g.weight * gv
    return u, v


def _root(f, lo: float, hi: float) -> float:
    """Where a falling ``f`` crosses 0 in [lo, hi] (bisection; the ends when it does not)."""
    if f(lo) <= 0:
        return lo
    if f(hi) >= 0:
        return hi
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return (lo + hi) / 2


def _clip(p: float) -> float:
    return 0.0 if p <= 2 * _TINY else 1.0 if p >= 1.0 - 2 * _TINY else p


def estimate_rate(groups: Sequence[Evidence], z: float) -> RateEstimate | None:
    """The maximum-likelihood rate and its score interval at ``z`` (None: no messages)."""
    groups = [g for g in groups if g.size > 0 and g.weight > 0]
    if not groups:
        return None
    lo, hi = _TINY, 1.0 - _TINY
    rate = _root(lambda p: _score(groups, p)[0], lo, hi)

    def standardised(p: float) -> float:
        u, v = _score(groups, p)
        return u / math.sqrt(v) if v > 0 else 0.0

    low = _root(lambda p: standardised(p) - z, lo, max(rate, lo))
    high = _root(lambda p: standardised(p) + z, min(rate, hi), hi)
    return RateEstimate(_clip(rate), _clip(low), _clip(high))
