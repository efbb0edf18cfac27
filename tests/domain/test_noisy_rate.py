"""The recall estimate with a reasoner that errs: synthetic counts whose truth is known.

Draws are seeded, so each figure is the same every run; the tolerances are several standard errors.
"""

from __future__ import annotations

import random

import pytest

from modbot.domain.figures import Z_95, AuditTally, ReasonerTally, RecallCounts, estimate_recall, wilson_interval
from modbot.domain.noisy_rate import Evidence, error_rate, estimate_rate


def _answers(rng: random.Random, truths: list[bool], eps: float) -> list[bool]:
    return [t != (rng.random() < eps) for t in truths]


def _world(rng: random.Random, eps: float, *, allowed: int = 4000, share: float = 0.1, escalated: int = 3000):
    """Counts of one period and the prefilter's true recall: 0.5 % of allows and 40 % of escalations
    are violations; audits and escalations carry the reasoner's answers, each wrong with probability eps."""
    allowed_truth = [rng.random() < 0.005 for _ in range(allowed)]
    escalated_truth = [rng.random() < 0.4 for _ in range(escalated)]
    audited = [t for t in allowed_truth if rng.random() < share]
    said_audits = _answers(rng, audited, eps)
    said_escalated = _answers(rng, escalated_truth, eps)
    k, c = sum(said_audits), sum(said_escalated)
    counts = RecallCounts(
        caught=c, allowed=allowed,
        audits=(AuditTally(share, len(audited), k, violation_eps=eps, allow_eps=eps),),
        escalated=ReasonerTally(escalated, c, violation_eps=eps, allow_eps=eps),
    )  # fmt: skip
    truth = sum(escalated_truth) / (sum(escalated_truth) + sum(allowed_truth))
    return counts, truth


def _naive(counts: RecallCounts):
    """Today's estimate: every answer taken as right."""
    audits = tuple(AuditTally(t.share, t.audited, t.violations) for t in counts.audits)
    return estimate_recall(RecallCounts(counts.caught, counts.allowed, audits))


def _figures(estimate) -> tuple:
    return estimate.miss_rate, estimate.recall, estimate.low, estimate.high, estimate.caught_estimate, estimate.method


def test_error_rate_is_one_minus_confidence_within_bounds() -> None:
    assert error_rate(0.9) == pytest.approx(0.1)
    assert error_rate(1.0) == 0.0 and error_rate(1.3) == 0.0
    assert error_rate(0.2) == 0.4 and error_rate(None) == 0.4 and error_rate(float("nan")) == 0.4


def test_certain_messages_give_the_wilson_interval() -> None:
    for k, n in ((5, 200), (0, 140), (50, 100), (200, 200)):
        got = estimate_rate([Evidence(upheld=k, cleared=n - k)], Z_95)
        low, high = wilson_interval(k, n)
        assert (got.rate, got.low, got.high) == (pytest.approx(k / n), pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    # Answers with eps 0 are as good as reviews.
    answers = estimate_rate([Evidence(said_violation=5, said_allow=195)], Z_95)
    assert answers.rate == pytest.approx(0.025) and answers.high == pytest.approx(wilson_interval(5, 200)[1], abs=1e-9)


def test_answers_alone_give_the_moment_estimate_and_the_mapped_wilson_interval() -> None:
    got = estimate_rate([Evidence(said_violation=60, said_allow=340, violation_eps=0.1, allow_eps=0.1)], Z_95)
    assert got.rate == pytest.approx((60 / 400 - 0.1) / 0.8)
    low, high = wilson_interval(60, 400)
    assert got.low == pytest.approx((low - 0.1) / 0.8, abs=1e-9) and got.high == pytest.approx((high - 0.1) / 0.8, abs=1e-9)
    # Fewer violation answers than the errors alone would give: no violations, and an upper bound.
    none = estimate_rate([Evidence(said_violation=30, said_allow=370, violation_eps=0.1, allow_eps=0.1)], Z_95)
    assert none.rate == 0.0 and none.low == 0.0 and 0.0 < none.high < 0.05


def test_reviews_of_the_violation_answers_do_not_bias_the_rate() -> None:
    # 1,000 audits, 10 true violations, eps 0.1: 9 + 99 violation answers, 1 violation among 892 allows.
    # Moderators review half the violation answers (4.5 upheld of 54, in expectation: scaled by 2).
    half = Evidence(upheld=9, cleared=99, said_violation=108, said_allow=1784, violation_eps=0.1, allow_eps=0.1)
    assert estimate_rate([half], Z_95).rate == pytest.approx(0.01, rel=1e-6)
    # Correcting the unreviewed answers as if they were a random sample would find no violations there.
    unreviewed = Evidence(said_violation=108, said_allow=1784, violation_eps=0.1, allow_eps=0.1)
    assert estimate_rate([unreviewed], Z_95).rate == 0.0
    every = Evidence(upheld=9, cleared=99, said_allow=892, allow_eps=0.1)  # all of them reviewed
    assert estimate_rate([every], Z_95).rate == pytest.approx(0.01, rel=1e-6)


def test_with_eps_zero_the_estimate_is_the_uncorrected_one() -> None:
    counts = RecallCounts(180, 800, (AuditTally(0.25, 200, 5, reviewed=3, reviewed_violations=2),), ReasonerTally(150, 120))
    assert _figures(estimate_recall(counts)) == _figures(estimate_recall(RecallCounts(180, 800, (AuditTally(0.25, 200, 5),))))
    assert estimate_recall(counts).caught_estimate == 180.0


def test_a_noisy_reasoner_biases_the_uncorrected_estimate_and_not_the_corrected_one() -> None:
    rng = random.Random(12)
    naive_errors, errors, covered, runs = [], [], 0, 200
    for _ in range(runs):
        counts, truth = _world(rng, 0.1)
        corrected = estimate_recall(counts)
        errors.append(corrected.recall - truth)
        naive_errors.append(_naive(counts).recall - truth)
        covered += corrected.low <= truth <= corrected.high
    median = sorted(errors)[runs // 2]
    naive = sum(naive_errors) / runs
    # The false "violation" answers on ~400 fine audits look like ~40 misses per 400: recall ~0.6, not ~0.98.
    assert naive < -0.15
    # The miss rate is not allowed below 0, which biases its mean up where it is near 0 (as here) but
    # not its median.
    assert abs(median) < 0.01, median
    assert sum(abs(e) for e in errors) / runs < 0.04 < -naive
    assert covered / runs >= 0.95, covered


def test_without_errors_the_estimates_are_unchanged() -> None:
    rng = random.Random(3)
    for _ in range(20):
        counts, _ = _world(rng, 0.0)
        assert _figures(estimate_recall(counts)) == _figures(_naive(counts))


def test_both_intervals_uncertain_widens_each_to_97_5_percent() -> None:
    counts, _ = _world(random.Random(5), 0.1)
    both = estimate_recall(counts)
    audits_only = estimate_recall(RecallCounts(counts.caught, counts.allowed, counts.audits))
    assert "97.5" in both.method
    assert both.high - both.low > audits_only.high - audits_only.low > 0
