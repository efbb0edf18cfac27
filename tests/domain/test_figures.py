"""The live recall estimate's arithmetic: Wilson intervals, C / (C + m·A), weights, and the backlog's drain."""

from __future__ import annotations

import pytest

from modbot.domain.figures import AuditTally, Backlog, RecallCounts, estimate_recall, wilson_interval


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 140)
    assert low == 0.0 and high == pytest.approx(3.8415 / (140 + 3.8415), rel=1e-3)  # z² / (n + z²)
    low, high = wilson_interval(50, 100)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_recall_is_caught_over_caught_plus_estimated_misses() -> None:
    estimate = estimate_recall(RecallCounts(caught=180, allowed=800, audits=(AuditTally(0.25, 200, 5),)), "test:g1")
    # m = 5/200 = 0.025, so about 20 of the 800 allowed messages were violations: 180 / 200 = 0.9.
    assert estimate.miss_rate == pytest.approx(0.025)
    assert estimate.recall == pytest.approx(0.9)
    m_low, m_high = wilson_interval(5, 200)
    assert estimate.low == pytest.approx(180 / (180 + m_high * 800))
    assert estimate.high == pytest.approx(180 / (180 + m_low * 800))
    assert estimate.low < estimate.recall < estimate.high
    assert estimate.describe() == f"0.90 ({estimate.low:.2f}–{estimate.high:.2f}, 200 audits)"


def test_audits_at_different_shares_are_weighted_by_their_inverse() -> None:
    # 100 audits at 10 % (2 violations) stand for 1,000 allowed; 100 at 50 % (10 violations) for 200.
    counts = RecallCounts(caught=100, allowed=1200, audits=(AuditTally(0.1, 100, 2), AuditTally(0.5, 100, 10)))
    estimate = estimate_recall(counts)
    assert estimate.miss_rate == pytest.approx((2 / 0.1 + 10 / 0.5) / (100 / 0.1 + 100 / 0.5))
    one_share = estimate_recall(RecallCounts(100, 1200, (AuditTally(0.1, 200, 12),)))
    # Unequal weights leave fewer effective audits, so a wider interval.
    assert (estimate.high - estimate.low) > 0 and one_share.miss_rate == pytest.approx(0.06)


def test_no_figure_without_audits_and_bounds_without_catches() -> None:
    assert estimate_recall(RecallCounts(10, 100)).recall is None
    assert estimate_recall(RecallCounts(10, 100)).describe() == "unknown (no audits yet)"
    nothing = estimate_recall(RecallCounts(0, 0, (AuditTally(0.02, 3, 0),)))
    assert nothing.recall is None and "3 audits" in nothing.describe()
    none_caught = estimate_recall(RecallCounts(0, 500, (AuditTally(0.1, 50, 1),)))
    assert none_caught.recall == 0.0 and none_caught.low == 0.0
    perfect = estimate_recall(RecallCounts(40, 500, (AuditTally(0.1, 50, 0),)))
    assert perfect.recall == 1.0 and perfect.high == 1.0 and perfect.low < 1.0


def test_backlog_drain_time() -> None:
    assert Backlog(0, 0, None, 300).drain_s == 0.0
    assert Backlog(30, 2, 6.0, 300).drain_s == pytest.approx(300.0)
    assert Backlog(30, 0, None, 300).drain_s is None
