"""Calibration on noisy labels (a reasoner wrong now and then): the corrected threshold reaches the
*true* target recall where the uncorrected one escalates most benign chat; with no noise nothing
changes. Synthetic scores with known flips, the real calibration and learning code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from modbot.domain import ServerRef
from modbot.domain.records import Label, LabelSource
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.ngrams import NgramFeaturizer
from modbot.stages.prefilter.thresholds import MAX_NOISE, allow_threshold_for_recall, calibrate, truth_weights
from modbot.training.calibration import calibrator
from modbot.training.config import TrainConfig
from modbot.training.data import DataError, LabelledRow, read_rows
from modbot.training.learning import corrected_recall, label_noise, label_noises, review_shares, rows_from_labels
from modbot.training.noise import rows_to_fit
from modbot.training.train import train_prefilter
from tests.support.prefilter_data import synthetic_rows

TARGET = 0.95
MARGIN = 0.02


def _chat(seed: int, n: int = 20_000, unsafe_share: float = 0.19, flip: float = 0.1):
    """(scores, true classes, noisy labels): scores overlap as a real model's do; flips ignore the score."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < unsafe_share
    scores = np.where(truth, rng.beta(4.0, 1.5, n), rng.beta(1.2, 5.0, n))
    labels = truth ^ (rng.random(n) < flip)
    return scores, truth, labels


def _true_figures(scores: np.ndarray, truth: np.ndarray, allow_below: float) -> tuple[float, float]:
    escalated = scores >= allow_below
    return float(escalated[truth].mean()), float(escalated[~truth].mean())


def test_corrected_calibration_reaches_the_true_target_where_the_naive_one_over_escalates() -> None:
    # As the learner calibrates: at the target plus its calibration margin (0.02).
    calibrated_at = TARGET + MARGIN
    recalls, benign_corrected, benign_naive = [], [], []
    for seed in range(8):
        scores, truth, labels = _chat(seed)
        naive = calibrate(scores, labels, target_recall=calibrated_at)
        corrected = calibrate(scores, labels, target_recall=calibrated_at, noise=np.full(len(scores), 0.1))
        oracle = allow_threshold_for_recall(scores, truth, None, calibrated_at)
        naive_recall, naive_benign = _true_figures(scores, truth, naive.allow_below)
        recall, benign = _true_figures(scores, truth, corrected.allow_below)
        # The naive threshold must also escalate the benign rows labelled unsafe: far below the oracle.
        assert naive_recall > 0.99 and naive.allow_below < oracle - 0.1
        # The corrected one lands near the oracle; its estimate is off by the flips' sampling error
        # (about 0.011 here), which the margin covers.
        assert recall >= TARGET - 0.015 and abs(corrected.allow_below - oracle) < 0.08
        assert abs(corrected.recall - recall) < 0.035 and abs(corrected.benign_escalated_share - benign) < 0.03
        recalls.append(recall)
        benign_corrected.append(benign)
        benign_naive.append(naive_benign)
    assert np.mean(recalls) >= TARGET
    assert np.mean(benign_naive) > 3 * np.mean(benign_corrected)


def test_no_noise_is_exactly_todays_calibration() -> None:
    scores, _, labels = _chat(7, n=3000)
    weights = np.where(np.arange(len(scores)) % 10 == 0, 20.0, 1.0)  # audits weigh 1 / audit_share
    hits = np.arange(len(scores)) % 37 == 0
    for w in (None, weights):
        plain = calibrate(scores, labels, hits, target_recall=TARGET, weights=w)
        zero = calibrate(scores, labels, hits, target_recall=TARGET, weights=w, noise=np.zeros(len(scores)))
        assert zero == plain
        zero_t = allow_threshold_for_recall(scores, labels, hits, TARGET, w, np.zeros(len(scores)))
        assert zero_t == allow_threshold_for_recall(scores, labels, hits, TARGET, w)
    assert np.array_equal(truth_weights(labels, None), labels.astype(float))


def test_truth_weights_are_unbiased_and_clamped() -> None:
    z = truth_weights([True, False, True], [0.1, 0.1, 0.45])
    assert z[0] == pytest.approx(0.9 / 0.8) and z[1] == pytest.approx(-0.1 / 0.8)
    assert z[2] == pytest.approx((1 - MAX_NOISE) / (1 - 2 * MAX_NOISE))  # 0.45 is read as MAX_NOISE
    # Expectation over the flips: a truly unsafe row counts 1, a benign one 0.
    e = 0.2
    unsafe = (1 - e) * truth_weights([True], [e])[0] + e * truth_weights([False], [e])[0]
    benign = e * truth_weights([True], [e])[0] + (1 - e) * truth_weights([False], [e])[0]
    assert unsafe == pytest.approx(1.0) and benign == pytest.approx(0.0)


def test_the_trainers_calibrator_uses_the_rows_noise() -> None:
    scores, truth, labels = _chat(11, n=6000)
    rows = [LabelledRow(text=f"t{i}", unsafe=bool(u)) for i, u in enumerate(labels)]
    noisy = [replace(r, noise=0.1) for r in rows]
    config = TrainConfig(target_recall=TARGET + MARGIN)
    plain = calibrator(labels, rows, config, None, (), None)(scores, "scores")
    corrected = calibrator(labels, noisy, config, None, (), None)(scores, "scores")
    assert corrected.allow_below > plain.allow_below + 0.05
    assert _true_figures(scores, truth, corrected.allow_below)[0] >= TARGET


def _label(source: LabelSource, confidence: float, unsafe: bool = True) -> Label:
    return Label("text", unsafe, None, source, 1.0, datetime(2026, 1, 1, tzinfo=UTC), ServerRef("t", "g"), confidence)


def test_label_noise_comes_from_the_reasoners_confidence_and_reviews_are_the_truth() -> None:
    assert label_noise(_label(LabelSource.REASONER, 0.9)) == pytest.approx(0.1)
    assert label_noise(_label(LabelSource.AUDIT, 0.95)) == pytest.approx(0.05)
    assert label_noise(_label(LabelSource.REASONER, 0.2)) == MAX_NOISE
    assert label_noise(_label(LabelSource.REASONER, 1.0)) == 0.0
    assert label_noise(_label(LabelSource.REVIEW, 0.5)) == 0.0
    assert label_noise(_label(LabelSource.REPORT, 0.5)) == 0.0
    rows = rows_from_labels([_label(LabelSource.REASONER, 0.9), _label(LabelSource.REPORT, 1.0)], lambda key: key)
    assert [r.noise for r in rows] == [pytest.approx(0.1), 0.0]


def _reviewed_group(rng: np.random.Generator, n: int, unsafe_share: float, review_share: float, weight: float):
    """(true unsafe count, labels): answers flipped at 10%; moderators decide a share of the cases
    ("violation" answers) and nothing else, as they do."""
    truth = rng.random(n) < unsafe_share
    said = truth ^ (rng.random(n) < 0.1)
    reviewed = said & (rng.random(n) < review_share)
    source = LabelSource.AUDIT if weight != 1.0 else LabelSource.REASONER
    at = datetime(2026, 1, 1, tzinfo=UTC)
    labels = [
        Label("text", bool(t), None, LabelSource.REVIEW, weight, at, ServerRef("t", "g"), 1.0)
        if r
        else Label("text", bool(s), None, source, weight, at, ServerRef("t", "g"), 0.9)
        for t, s, r in zip(truth, said, reviewed)
    ]
    return int(truth.sum()), labels


@pytest.mark.parametrize(
    ("unsafe_share", "review_share", "weight"),
    [(0.03, 1.0, 20.0), (0.03, 0.5, 20.0), (0.25, 0.1, 1.0), (0.25, 0.9, 1.0), (0.25, 0.0, 1.0)],
)
def test_reviews_of_cases_keep_the_truth_correction_unbiased(unsafe_share: float, review_share: float, weight: float) -> None:
    # Audits of allowed messages (few violations) with every audit case reviewed is what made the plain
    # correction count the allowed violations below zero, and the thresholds let them through.
    true_unsafe, labels = _reviewed_group(np.random.default_rng(11), 40_000, unsafe_share, review_share, weight)
    y = np.array([label.unsafe for label in labels])
    corrected = float(truth_weights(y, label_noises(labels)).sum())
    plain = float(truth_weights(y, [label_noise(label) for label in labels]).sum())
    # The flips' sampling error: a few percent of the unsafe count at most on 40,000 labels.
    assert abs(corrected - true_unsafe) < 0.05 * true_unsafe + 60
    if review_share > 0:
        assert abs(plain - true_unsafe) > max(2 * abs(corrected - true_unsafe), 0.03 * true_unsafe)
        assert review_shares(labels)[weight][0] == pytest.approx(review_share, abs=0.03)
    else:
        assert corrected == pytest.approx(plain)


def test_reviews_keep_the_held_back_recall_honest() -> None:
    # Escalated labels (many violations) and audits (few, every case reviewed): the recall of "escalate
    # every escalated message, allow every audited one" must come out near the truth.
    rng = np.random.default_rng(5)
    caught, escalated_labels = _reviewed_group(rng, 8_000, 0.4, 0.1, 1.0)
    missed, audit_labels = _reviewed_group(rng, 400, 0.05, 1.0, 20.0)
    labels = escalated_labels + audit_labels
    escalated = np.array([label.weight == 1.0 for label in labels])
    y = np.array([label.unsafe for label in labels])
    w = np.array([label.weight for label in labels])
    truth = caught / (caught + 20.0 * missed)
    estimated = corrected_recall(escalated, y, w, label_noises(labels))
    plain = corrected_recall(escalated, y, w, [label_noise(label) for label in labels])
    assert estimated is not None and plain is not None
    assert abs(estimated - truth) < 0.04
    assert plain > truth + 0.04  # the allowed violations counted below zero: recall looks better than it is


def test_the_held_back_recall_is_corrected_for_noise() -> None:
    scores, truth, labels = _chat(3)
    escalated = scores >= allow_threshold_for_recall(scores, truth, None, TARGET)
    w = np.ones(len(scores))
    true_recall = float(escalated[truth].mean())
    labelled = corrected_recall(escalated, labels, w, None)
    estimated = corrected_recall(escalated, labels, w, np.full(len(scores), 0.1))
    assert labelled is not None and estimated is not None
    # Measured against noisy labels the model looks below target and would be rejected; corrected, not.
    assert labelled < TARGET - 0.05
    assert abs(estimated - true_recall) < 0.03  # the flips' sampling error: about 0.012 on 20,000 labels
    assert corrected_recall(escalated, np.zeros(len(scores), dtype=bool), w, None) is None


def test_a_data_file_may_state_its_labels_noise(tmp_path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "gg", "unsafe": 0, "noise": 0.1}\n{"text": "ez", "unsafe": 1}\n', encoding="utf-8")
    assert [r.noise for r in read_rows(path)] == [0.1, 0.0]
    path.write_text('{"text": "gg", "unsafe": 0, "noise": 0.5}\n', encoding="utf-8")
    with pytest.raises(DataError, match="noise"):
        read_rows(path)


def _flipped_chat(n: int, seed: int) -> tuple[list[LabelledRow], np.ndarray]:
    """Synthetic game chat with 10% of its labels flipped (and saying so); the mask of flipped rows."""
    rng = np.random.default_rng(seed)
    rows = [LabelledRow(text=r["text"], unsafe=bool(r["unsafe"]), id=r["id"]) for r in synthetic_rows(n, seed=seed)]
    flipped = rng.random(n) < 0.1
    noisy = [replace(r, unsafe=r.unsafe ^ bool(f), noise=0.1) for r, f in zip(rows, flipped)]
    return noisy, flipped


def test_fitting_leaves_out_mostly_the_flipped_labels() -> None:
    rows, flipped = _flipped_chat(1500, seed=5)
    folded = [normalize(r.text).folded for r in rows]
    design = NgramFeaturizer.fit(folded).transform(folded)
    y = np.array([r.unsafe for r in rows], dtype=np.int8)
    config = TrainConfig(folds=3)
    keep = rows_to_fit(design, None, y, np.full(len(y), 0.1), config)
    assert (~keep[flipped]).mean() > 0.6  # most flips are not learned
    assert keep[~flipped].mean() > 0.9  # nearly every right label is
    assert rows_to_fit(design, None, y, np.zeros(len(y)), config).all()  # trusted labels: all kept


def test_training_on_noisy_rows_calibrates_on_every_row_with_its_noise(tmp_path) -> None:
    rows, flipped = _flipped_chat(800, seed=9)
    config = TrainConfig(use_embeddings=False, folds=3, lodo=False, communities=False, target_recall=0.9)
    noisy = train_prefilter(rows, tmp_path / "noisy", config=config)
    plain = train_prefilter([replace(r, noise=0.0) for r in rows], tmp_path / "plain", config=config)
    assert "noise" in noisy.timings and noisy.thresholds.n == len(rows)
    # Uncorrected, the flipped benign rows labelled unsafe drag the threshold down to escalate them too.
    assert noisy.thresholds.allow_below > plain.thresholds.allow_below
    assert noisy.thresholds.benign_escalated_share < plain.thresholds.benign_escalated_share


def _with_upheld_misses(n: int = 900) -> tuple[list[Label], list[str]]:
    """Reasoner labels of synthetic chat (a "violation" answer now and then reviewed) and upheld reviews of
    misses the rest of the data calls benign: the audit cases a moderator confirmed."""
    rng = np.random.default_rng(2)
    at, server = datetime(2026, 1, 1, tzinfo=UTC), ServerRef("t", "g")
    labels = []
    for r in synthetic_rows(n, seed=4):
        reviewed = bool(r["unsafe"]) and rng.random() < 0.2
        source, confidence = (LabelSource.REVIEW, 1.0) if reviewed else (LabelSource.REASONER, 0.9)
        labels.append(Label(r["text"], bool(r["unsafe"]), None, source, 1.0, at, server, confidence))
    # Worded like the benign chat around them: what the prefilter missed and the audits found.
    misses = list(dict.fromkeys(r["text"] for r in synthetic_rows(200, seed=8) if not r["unsafe"]))[:12]
    labels += [Label(text, True, None, LabelSource.REVIEW, 1.0, at, server, 1.0) for text in misses]
    return labels, misses


def test_upheld_reviews_are_never_left_out_of_fitting(tmp_path) -> None:
    # Calibration counts an upheld case as 1 / (1 - e) violations, written as an equivalent flip rate;
    # the fitting filter must not read that rate as doubt: a review is the truth, and the ones the model
    # disagrees with (the misses moderators confirmed) are the labels it most needs.
    labels, misses = _with_upheld_misses()
    rows = rows_from_labels(labels, lambda key: key)
    reviews = np.array([label.source is LabelSource.REVIEW for label in labels])
    assert all(r.noise > 0 for r, rev in zip(rows, reviews) if rev and r.unsafe)
    assert all(r.fitting_noise == 0.0 for r, rev in zip(rows, reviews) if rev)
    assert all(r.fitting_noise == pytest.approx(0.1) for r, rev in zip(rows, reviews) if not rev)
    folded = [normalize(r.text).folded for r in rows]
    design = NgramFeaturizer.fit(folded).transform(folded)
    y = np.array([r.unsafe for r in rows], dtype=np.int8)
    config = TrainConfig(folds=3)
    as_doubt = rows_to_fit(design, None, y, np.array([r.noise for r in rows]), config)
    as_truth = rows_to_fit(design, None, y, np.array([r.fitting_noise for r in rows]), config)
    assert (~as_doubt[reviews]).sum() >= 3  # read as noise, confirmed misses were dropped
    assert as_truth[reviews].all()
    # The trainer fits on them: the confirmed misses score higher than with the doubt read as noise.
    config = TrainConfig(use_embeddings=False, folds=3, lodo=False, communities=False)
    train_prefilter(rows, tmp_path / "kept", config=config)
    train_prefilter([replace(r, fit_noise=None) for r in rows], tmp_path / "dropped", config=config)
    from modbot.stages.prefilter.model_files import load_model

    def scores(folder):
        model = load_model(folder)
        texts = [normalize(t).folded for t in misses]
        return 1 / (1 + np.exp(-model.base_logits(model.ngram_logits(model.ngram_features(texts)))))

    assert scores(tmp_path / "kept").mean() > 1.5 * scores(tmp_path / "dropped").mean()
