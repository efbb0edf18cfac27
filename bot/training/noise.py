"""Fitting on noisy labels: which rows' labels a first, cheap out-of-fold pass doubts.

A reasoner's labels are flipped now and then (a row's ``noise``: its flip probability). The benign
messages labelled unsafe teach the model that benign chat looks unsafe and blunt its ranking. Before
the real fit, an n-gram model and a linear embedding head are fitted out of fold on the noisy labels;
their blend estimates each row's chance ``q`` of being *labelled* unsafe, hence its chance of being
truly unsafe ``(q - e) / (1 - 2 e)``, hence the posterior that its label is right. Rows whose label is
right with a posterior below :data:`MIN_POSTERIOR` are left out of fitting (confident learning,
Northcutt et al., 2021);
calibration still counts every row with its own label, corrected for the noise
(:func:`modbot.stages.prefilter.thresholds.truth_weights`), so leaving rows out cannot fake recall.
Rows with ``noise`` 0 (reviews, reports, files) are always kept.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.sparse import csr_matrix

from modbot.stages.prefilter.thresholds import MAX_NOISE
from modbot.training.config import TrainConfig
from modbot.training.parts import fit_embedding_head, fit_ngram

__all__ = ["MIN_POSTERIOR", "label_posterior", "rows_to_fit"]

#: A noisy row is fitted on only if its label is right with at least this posterior. On 20,000
#: GameTox + CONDA rows with 10% flips (out of fold, true labels), benign escalated at true recall
#: 0.95: 0.336 fitting every row, 0.289 leaving out posteriors below 0.5, 0.268 below 0.7 (true labels:
#: 0.258). 0.7 leaves out three quarters of the flips and 2% of the right labels.
MIN_POSTERIOR = 0.7


def label_posterior(q: np.ndarray, y: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """P(label is right | the chance ``q`` of a label "unsafe", the label ``y``, its flip rate ``noise``)."""
    e = np.clip(noise, 0.0, MAX_NOISE)
    pi = np.clip((q - e) / np.maximum(1e-9, 1.0 - 2.0 * e), 0.0, 1.0)
    right_if_unsafe = pi * (1 - e) / np.maximum(1e-12, pi * (1 - e) + (1 - pi) * e)
    right_if_safe = (1 - pi) * (1 - e) / np.maximum(1e-12, (1 - pi) * (1 - e) + pi * e)
    return np.where(y.astype(bool), right_if_unsafe, right_if_safe)


def rows_to_fit(
    design: csr_matrix, pooled: np.ndarray | None, y: np.ndarray, noise: np.ndarray, config: TrainConfig
) -> np.ndarray:
    """The rows to fit the parts on: all but the noisy ones whose label is likely wrong (see the module doc)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    columns = [np.zeros(n), np.zeros(n)]
    linear = replace(config, embed_hidden=0)
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed + 1)
    for train_idx, test_idx in splitter.split(np.zeros(n), y):
        columns[0][test_idx] = fit_ngram(design[train_idx], y[train_idx], config.ngram_c).decision_function(design[test_idx])
        if pooled is not None:
            columns[1][test_idx] = fit_embedding_head(pooled[train_idx], y[train_idx], linear).logits(pooled[test_idx])
    x = np.column_stack(columns if pooled is not None else columns[:1])
    q = LogisticRegression(C=10.0, max_iter=1000).fit(x, y).predict_proba(x)[:, 1]
    return (noise <= 0) | (label_posterior(q, y, noise) >= MIN_POSTERIOR)
