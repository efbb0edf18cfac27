"""Fitting the parts of a prefilter model: the n-gram model (with community corrections), the embedding head and the neighbour memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix, diags, hstack

from modbot.stages.prefilter.parts import EmbeddingHead, NeighbourMemory
from modbot.training.config import TrainConfig
from modbot.training.data import LabelledRow

if TYPE_CHECKING:  # scikit-learn is imported when a model is fitted
    from sklearn.linear_model import LogisticRegression

__all__ = [
    "average_heads", "build_memory", "community_design", "community_groups", "fit_embedding_head", "fit_ngram",
    "memory_rates",
]  # fmt: skip


def fit_ngram(x: csr_matrix, y: np.ndarray, c: float) -> LogisticRegression:
    """The n-gram model: logistic regression of strength ``c`` (liblinear, as the shipped model)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear", max_iter=3000).fit(x, y)


def fit_embedding_head(features: np.ndarray, y: np.ndarray, config: TrainConfig) -> EmbeddingHead:
    """The embedding head: a one-hidden-layer MLP (``embed_hidden`` > 0) or logistic regression."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (features - mean) / scale
    if config.embed_hidden > 0 and len(y) >= config.min_hidden_rows:
        from sklearn.neural_network import MLPClassifier

        # Several MLPs from different seeds, their logits averaged (a steadier tail: this is where
        # the recall target is decided). Averaging the output layers of MLPs that share the input is
        # one MLP with their hidden units side by side, so the saved head stays one hidden layer.
        # Early stopping holds out 10% of the rows to decide when each one stops.
        nets = [
            MLPClassifier(
                hidden_layer_sizes=(config.embed_hidden,),
                alpha=config.embed_alpha,
                early_stopping=True,
                random_state=config.seed + k,
                max_iter=200,
            ).fit(z, y)
            for k in range(max(1, config.embed_ensemble))
        ]
        n = len(nets)
        return EmbeddingHead(
            mean.astype(np.float32),
            scale.astype(np.float32),
            np.concatenate([net.coefs_[1][:, 0] for net in nets]).astype(np.float32) / n,
            float(np.mean([net.intercepts_[1][0] for net in nets])),
            np.concatenate([net.coefs_[0] for net in nets], axis=1).astype(np.float32),
            np.concatenate([net.intercepts_[0] for net in nets]).astype(np.float32),
        )
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=config.embed_c, max_iter=2000).fit(z, y)
    return EmbeddingHead(
        mean.astype(np.float32), scale.astype(np.float32), clf.coef_[0].astype(np.float32), float(clf.intercept_[0])
    )


def average_heads(heads: Sequence[EmbeddingHead]) -> EmbeddingHead:
    """One head whose logit is the mean of ``heads``' logits (heads fitted on different rows: the out-of-fold ones).

    Each head's standardisation is folded into its first layer (``(x - m) / s @ W + b`` is
    ``x @ (W / s) + (b - (m / s) @ W)``), so the heads share one input and sit side by side, as the
    seeds of one head do (:func:`fit_embedding_head`).
    """
    if not heads:
        raise ValueError("no heads to average")
    n = len(heads)
    dim = heads[0].mean.shape[0]
    hidden = [h.hidden_weight is not None for h in heads]
    if any(hidden) and not all(hidden):
        raise ValueError("cannot average MLP heads with linear ones")
    ones, zeros = np.ones(dim, np.float32), np.zeros(dim, np.float32)
    if not all(hidden):
        coef = np.mean([h.coef / h.scale for h in heads], axis=0)
        intercept = float(np.mean([h.intercept - float((h.mean / h.scale) @ h.coef) for h in heads]))
        return EmbeddingHead(zeros, ones, coef.astype(np.float32), intercept)
    weights = [h.hidden_weight / h.scale[:, None] for h in heads]  # type: ignore[index]
    biases = [h.hidden_bias - (h.mean / h.scale) @ h.hidden_weight for h in heads]  # type: ignore[operator]
    return EmbeddingHead(
        zeros,
        ones,
        np.concatenate([h.coef for h in heads]).astype(np.float32) / n,
        float(np.mean([h.intercept for h in heads])),
        np.concatenate(weights, axis=1).astype(np.float32),
        np.concatenate(biases).astype(np.float32),
    )


def community_groups(rows: Sequence[LabelledRow], config: TrainConfig) -> tuple[np.ndarray, list[str]]:
    """Each row's community index (-1: shared part only) and the community names, in order.

    A source becomes a community when ``config.communities`` allows it (None: when the data holds at
    least two sources that qualify) and it has ``min_community_rows`` rows with both labels present
    at least ``config.folds`` times each.
    """
    groups = np.full(len(rows), -1, dtype=np.int32)
    if config.communities is False:
        return groups, []
    totals = Counter(r.source for r in rows)
    unsafe = Counter(r.source for r in rows if r.unsafe)
    names = sorted(
        source
        for source, n in totals.items()
        if source
        and n >= config.min_community_rows
        and min(unsafe[source], n - unsafe[source]) >= config.folds
    )
    if len(names) < 2 and config.communities is None:
        return groups, []
    index = {name: i for i, name in enumerate(names)}
    for i, row in enumerate(rows):
        groups[i] = index.get(row.source, -1)
    return groups, names


def community_design(x: csr_matrix, groups: np.ndarray, n: int) -> csr_matrix:
    """Feature augmentation: ``[x, x * in_community_1, ..., x * in_community_n, one-hot community]``.

    One logistic regression over this learns shared weights plus a correction per community (the
    correction is regularised towards zero, so a community only departs from the shared weights
    where its own labels insist).
    """
    if n == 0:
        return x
    blocks = [x]
    for i in range(n):
        blocks.append(diags((groups == i).astype(np.float32)) @ x)
    onehot = csr_matrix(
        (np.ones(int((groups >= 0).sum()), np.float32), (np.flatnonzero(groups >= 0), groups[groups >= 0])),
        shape=(x.shape[0], n),
    )
    blocks.append(onehot)
    return hstack(blocks, format="csr")


def build_memory(folded: list[str], vectors: np.ndarray, y: np.ndarray, config: TrainConfig) -> NeighbourMemory:
    """The neighbour memory of ``config`` over these rows."""
    return NeighbourMemory.build(
        folded, vectors, y, k=config.memory_k, sharpness=config.memory_sharpness, dims=config.memory_dims, seed=config.seed
    )


def memory_rates(config: TrainConfig) -> Callable[[list[str], np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """``rates(folded, vectors, y, queries)``: a memory built on the first three, asked about ``queries``."""
    return lambda folded, vectors, y, queries: build_memory(folded, vectors, y, config).rates(queries)
