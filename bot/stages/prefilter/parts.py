"""The trained parts of a prefilter model besides the shared n-gram weights.

* :class:`CommunityWeights` — per-community corrections of the n-gram model;
* :class:`EmbeddingHead` — the classifier over pooled MiniLM features;
* :class:`NeighbourMemory` — the training messages' embeddings, for a nearest-neighbour unsafe rate.

:mod:`.model` combines them into one score; :mod:`.model_files` reads and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["CommunityWeights", "EmbeddingHead", "NeighbourMemory", "unit_rows"]


@dataclass(frozen=True, slots=True)
class EmbeddingHead:
    """A classifier over standardised pooled MiniLM features (mean + max, 768 values).

    With ``hidden_weight`` it is a one-hidden-layer ReLU network (the default since format 2: frozen
    sentence embeddings are not linearly separable enough for chat); without, logistic regression.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    hidden_weight: np.ndarray | None = None
    hidden_bias: np.ndarray | None = None

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale
        if self.hidden_weight is not None:
            z = np.maximum(z @ self.hidden_weight + self.hidden_bias, 0.0)
        return z @ self.coef + self.intercept


@dataclass(frozen=True, slots=True)
class CommunityWeights:
    """Per-community corrections of the n-gram model: ``names[i]`` adds ``coef[i] . x + bias[i]``."""

    names: tuple[str, ...]
    coef: np.ndarray  # (len(names), n_features)
    bias: np.ndarray  # (len(names),)

    def index(self, community: str | None) -> int | None:
        if community is None:
            return None
        try:
            return self.names.index(community)
        except ValueError:
            return None

    def offset(self, community: str | None, cols: np.ndarray, vals: np.ndarray) -> float:
        """The correction for one feature row; 0 for no community or one the model does not know."""
        i = self.index(community)
        if i is None:
            return 0.0
        return float(vals @ self.coef[i, cols]) + float(self.bias[i]) if len(cols) else float(self.bias[i])


@dataclass(frozen=True, slots=True)
class NeighbourMemory:
    """The training messages as embeddings, for a k-nearest-neighbour unsafe rate.

    One row per distinct training text: its mean MiniLM embedding projected onto the training
    data's top principal components (``center``, ``projection``: a third of the dimensions gave the
    same held-out quality at a third of the cost) and L2-normalised, how often it occurred and how
    often it was unsafe. A query's rate is ``sum(w * unsafe) / sum(w * count)`` over its ``k`` most
    similar texts, with ``w = exp(sharpness * (cosine - 1))``: identical texts weigh most, so chat's
    repeated lines ("gg", "ez") answer with the rate they were labelled at.
    """

    vectors: np.ndarray  # (texts, dims) float32, L2-normalised
    counts: np.ndarray  # (texts,) float32
    unsafe: np.ndarray  # (texts,) float32
    k: int = 20
    sharpness: float = 10.0
    #: Mean embedding subtracted before projecting, and the (384, dims) projection; None: raw 384.
    center: np.ndarray | None = None
    projection: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        vectors: np.ndarray,
        labels: np.ndarray,
        *,
        k: int = 20,
        sharpness: float = 10.0,
        dims: int = 0,
        seed: int = 0,
    ) -> NeighbourMemory:
        """Aggregate rows (``vectors`` are mean embeddings, one per row of ``texts``) into distinct texts.

        ``dims`` > 0 projects onto that many principal components of the distinct texts' vectors.
        """
        position: dict[str, int] = {}
        first: list[int] = []
        counts: list[float] = []
        unsafe: list[float] = []
        for row, (text, label) in enumerate(zip(texts, labels)):
            at = position.get(text)
            if at is None:
                position[text] = len(first)
                first.append(row)
                counts.append(1.0)
                unsafe.append(float(label))
            else:
                counts[at] += 1.0
                unsafe[at] += float(label)
        kept = np.asarray(vectors, dtype=np.float32)[first]
        center = projection = None
        if 0 < dims < kept.shape[1] and len(kept) > dims:
            center = kept.mean(axis=0)
            rng = np.random.default_rng(seed)
            sample = kept[rng.choice(len(kept), size=min(len(kept), 20_000), replace=False)] - center
            projection = np.linalg.svd(sample, full_matrices=False)[2][:dims].T.astype(np.float32)
        memory = cls(
            np.zeros((0, 0), np.float32),
            np.asarray(counts, np.float32),
            np.asarray(unsafe, np.float32),
            k,
            sharpness,
            center,
            projection,
        )
        return replace(memory, vectors=memory.project(kept))

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Mean embeddings as this memory compares them (projected if it projects, unit length)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.projection is not None and self.center is not None:
            vectors = (vectors - self.center) @ self.projection
        return unit_rows(vectors)

    def rates(self, queries: np.ndarray, *, chunk: int = 256) -> np.ndarray:
        """The neighbour unsafe rate of each query row (mean embeddings), in [0, 1]."""
        out = np.zeros(len(queries), dtype=np.float64)
        if not len(self.vectors) or not len(queries):
            return out
        queries = self.project(queries)
        k = min(self.k, len(self.vectors))
        for start in range(0, len(queries), chunk):
            sims = queries[start : start + chunk] @ self.vectors.T
            if k < sims.shape[1]:
                idx = np.argpartition(sims, -k, axis=1)[:, -k:]
                sims = np.take_along_axis(sims, idx, axis=1)
            else:
                idx = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
            w = np.exp(self.sharpness * (sims.astype(np.float64) - 1.0))
            out[start : start + chunk] = (w * self.unsafe[idx]).sum(axis=1) / np.maximum(
                (w * self.counts[idx]).sum(axis=1), 1e-12
            )
        return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
