"""Leave-one-dataset-out calibration on a small synthetic multi-source set (n-grams only: seconds).

Each source words its insults its own way; a model that has not seen a source misses those words,
so the thresholds for unknown communities must sit lower (recall first) than the in-distribution ones.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from modbot.stages.prefilter import load_prefilter
from modbot.stages.prefilter.scorer import SHARED_THRESHOLDS_FILE
from modbot.stages.prefilter.thresholds import Thresholds, allow_threshold_for_recall, calibrate
from modbot.training.calibration import UNKNOWN
from modbot.training.data import LabelledRow, cap_per_source
from modbot.training.lodo import lodo_sources
from modbot.training.train import TrainConfig, train_prefilter

_OWN_INSULTS = {
    "alpha": ["zorpface", "blixhead", "krumwit"],
    "beta": ["quonkling", "vashnit", "troob"],
    "gamma": ["snerdlord", "plimbo", "gorfwad"],
}
_COMMON_INSULTS = ["idiot", "moron"]
_TOXIC = ["you are a {i}", "shut up {i}", "what a {i} lol", "{i} again, uninstall", "go away {i}"]
_BENIGN = ["good game {w}", "push {w} now", "thanks for the help {w}", "see you at {w}", "nice one {w}", "lag again at {w}"]
_WORDS = ["north", "base", "tower", "river", "camp", "mid", "team", "friend"]


def _rows(per_source: int = 220, seed: int = 3) -> list[LabelledRow]:
    rng = random.Random(seed)
    rows = []
    for source, own in _OWN_INSULTS.items():
        for i in range(per_source):
            if rng.random() < 0.35:
                insult = rng.choice(own) if rng.random() < 0.8 else rng.choice(_COMMON_INSULTS)
                text, unsafe = rng.choice(_TOXIC).format(i=insult), True
            else:
                text, unsafe = rng.choice(_BENIGN).format(w=rng.choice(_WORDS)), False
            rows.append(LabelledRow(text=f"{text} {i % 7}", unsafe=unsafe, source=source, id=f"{source}-{i}"))
    return rows


CONFIG = TrainConfig(use_embeddings=False, folds=3)


@pytest.fixture(scope="module")
def format1(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("lodo") / "f1"
    report = train_prefilter(_rows(), out, config=TrainConfig(use_embeddings=False, folds=3, communities=False))
    return out, report


def test_lodo_thresholds_are_recall_first_where_the_held_out_source_differs(format1):
    out, report = format1
    unknown, learned = report.unknown_thresholds, report.thresholds
    assert unknown is not None
    assert unknown.allow_below < learned.allow_below
    # Unknown insults score lower: keeping 95% of them costs more benign escalation than in distribution.
    assert unknown.benign_escalated_share >= learned.benign_escalated_share
    assert unknown.recall >= 0.95 and unknown.combine == "worst"
    # worst: every held-out source reaches the target on its own.
    assert all(f["recall"] >= 0.95 for f in unknown.per_source.values())


def test_thresholds_json_records_the_per_source_figures(format1):
    out, report = format1
    data = json.loads((out / "thresholds.json").read_text(encoding="utf-8"))
    # Format 1: every server gets thresholds.json, so it holds the LODO thresholds.
    assert data["calibrated_on"].startswith("leave-one-dataset-out over 3 sources")
    assert data["applies_to"] == UNKNOWN
    assert set(data["per_source"]) == {"alpha", "beta", "gamma"}
    for figures in data["per_source"].values():
        assert figures["n"] == 220 and 0.0 <= figures["recall"] <= 1.0
        assert figures["benign_escalated_share"] is not None and figures["allow_below_for_target"] is not None
    # The figures are macro: the mean of the held-out sources' recalls.
    assert np.mean([f["recall"] for f in data["per_source"].values()]) >= 0.95 - 1e-9
    assert data["in_distribution"]["allow_below"] == report.thresholds.allow_below
    loaded = Thresholds.load(out / "thresholds.json")
    assert loaded.per_source == data["per_source"] and "recall" in loaded.describe()
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "leave-one-dataset-out" in card and "| gamma |" in card
    assert set(json.loads((out / "model.json").read_text(encoding="utf-8"))["info"]["timings"]) >= {"lodo", "out_of_fold"}


def test_thresholds_for_an_unknown_community_are_the_lodo_ones(tmp_path: Path):
    """Format 2: learned communities keep their in-distribution thresholds; any other server gets LODO."""
    out = tmp_path / "f2"
    report = train_prefilter(_rows(), out, config=TrainConfig(use_embeddings=False, folds=3, min_community_rows=100))
    assert report.unknown_thresholds is not None
    shared = json.loads((out / SHARED_THRESHOLDS_FILE).read_text(encoding="utf-8"))
    assert shared["calibrated_on"].startswith("leave-one-dataset-out")
    learned = json.loads((out / "thresholds.json").read_text(encoding="utf-8"))
    assert "out-of-fold" in learned["calibrated_on"] and not learned["per_source"]
    pf = load_prefilter(out)
    assert pf.model.community_names == ("alpha", "beta", "gamma")
    assert pf.thresholds_for("alpha").allow_below == learned["allow_below"]
    for community in (None, "some-game-server"):
        th = pf.thresholds_for(community)
        assert th.allow_below == report.unknown_thresholds.allow_below == shared["allow_below"]
        assert th.applies_to == UNKNOWN


def test_no_lodo_with_one_source_or_when_turned_off(tmp_path: Path):
    rows = [r for r in _rows() if r.source == "alpha"]
    assert lodo_sources(rows, CONFIG) == []
    assert lodo_sources(_rows(), TrainConfig(lodo=False)) == []
    report = train_prefilter(rows, tmp_path / "one", config=CONFIG)
    assert report.unknown_thresholds is None
    assert "out-of-fold" in json.loads((tmp_path / "one" / "thresholds.json").read_text(encoding="utf-8"))["calibrated_on"]


@pytest.mark.parametrize("combine", ["pooled", "macro"])
def test_other_combinations(tmp_path: Path, combine: str):
    config = TrainConfig(use_embeddings=False, folds=3, communities=False, lodo_combine=combine)
    report = train_prefilter(_rows(), tmp_path / combine, config=config)
    unknown = report.unknown_thresholds
    assert unknown is not None and unknown.combine == combine
    if combine == "macro":
        assert np.mean([f["recall"] for f in unknown.per_source.values()]) >= 0.95 - 1e-9


def test_weighted_calibration_is_the_mean_of_the_groups_recalls():
    rng = np.random.default_rng(0)
    # Group 0: many unsafe, scored high; group 1: few unsafe, scored low.
    scores = np.concatenate([rng.uniform(0.6, 1.0, 900), rng.uniform(0.0, 0.5, 100), rng.uniform(0.0, 0.4, 500)])
    y = np.concatenate([np.ones(900, bool), np.ones(100, bool), np.zeros(500, bool)])
    group = np.concatenate([np.zeros(900), np.ones(100), np.zeros(250), np.ones(250)])
    w = np.where(y, np.where(group == 0, 1 / 900, 1 / 100), 1 / 250)
    pooled = allow_threshold_for_recall(scores, y, None, 0.95)
    macro = allow_threshold_for_recall(scores, y, None, 0.95, weights=w)
    assert macro < pooled  # the small group's unsafe messages count as much as the large group's
    th = calibrate(scores, y, target_recall=0.95, weights=w)
    recalls = [((scores >= th.allow_below) & y & (group == g)).sum() / (y & (group == g)).sum() for g in (0, 1)]
    assert np.mean(recalls) >= 0.95 and th.recall == pytest.approx(np.mean(recalls))


def test_cap_per_source_is_deterministic():
    rows = _rows()
    capped = cap_per_source(rows, 50)
    assert capped == cap_per_source(rows, 50)
    assert {s: sum(r.source == s for r in capped) for s in _OWN_INSULTS} == {s: 50 for s in _OWN_INSULTS}
    assert cap_per_source(rows, 10_000) == rows
