"""Threshold calibration to a target recall; the thresholds file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modbot.stages.prefilter import Thresholds, ThresholdsError, calibrate


def _data(seed: int = 0, n: int = 2000):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    scores = np.clip(np.where(y, rng.normal(0.7, 0.2, n), rng.normal(0.25, 0.15, n)), 0, 1)
    return scores, y


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 0.99])
def test_allow_threshold_hits_the_target_recall(target: float):
    scores, y = _data()
    th = calibrate(scores, y, target_recall=target)
    kept = scores[y] >= th.allow_below
    assert kept.mean() >= target
    # ...and is the highest such threshold: one unsafe message fewer would miss the target.
    assert (scores[y] > th.allow_below + 1e-6).mean() < target
    assert th.recall >= target
    assert 0.0 <= th.benign_escalated_share <= 1.0


def test_keyword_hits_count_as_caught():
    scores, y = _data()
    hits = np.zeros_like(y)
    hits[np.nonzero(y)[0][:100]] = True  # the keyword stage already catches 100 unsafe messages
    with_kw = calibrate(scores, y, hits, target_recall=0.95)
    without = calibrate(scores, y, target_recall=0.95)
    assert with_kw.allow_below >= without.allow_below
    assert with_kw.recall >= 0.95


def test_act_threshold_meets_precision():
    scores, y = _data()
    th = calibrate(scores, y, act_precision=0.95)
    above = scores >= th.act_above
    assert th.act_above >= th.allow_below
    if th.act_above < 1.0:
        assert y[above].mean() >= 0.95


def test_act_threshold_is_never_when_precision_is_unreachable():
    y = np.array([True, False] * 50)
    scores = np.full(100, 0.5)
    assert calibrate(scores, y, act_precision=0.99).act_above == 1.0


def test_roundtrip_and_bad_files(tmp_path: Path):
    scores, y = _data()
    th = calibrate(scores, y, calibrated_on="synthetic", policy_id="p", policy_version="sha256:x")
    path = tmp_path / "thresholds.json"
    th.save(path)
    loaded = Thresholds.load(path)
    assert loaded.allow_below == th.allow_below and loaded.policy_version == "sha256:x"
    assert len(loaded.sweep) == len(th.sweep)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ThresholdsError, match="not valid JSON"):
        Thresholds.load(path)
    data = th.to_json()
    data["allow_below"] = 2
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ThresholdsError, match="allow_below"):
        Thresholds.load(path)


def test_needs_both_classes():
    with pytest.raises(ThresholdsError, match="no unsafe"):
        calibrate([0.1, 0.2], [False, False])
    with pytest.raises(ThresholdsError, match="no safe"):
        calibrate([0.1, 0.2], [True, True])
