"""The trained prefilter classifier: n-gram model + embedding head + neighbour memory, blended into one risk score.

``logit = a * ngram_logit + b * embed_logit + m * neighbour_rate + c`` (+ the similarity adjustment
of :mod:`.examples`), ``score = sigmoid(logit)``. The n-gram model is cheap; the embedding head (a
small MLP over pooled MiniLM features) and the neighbour memory (the unsafe rate among the most
similar training messages) need MiniLM. Communities: when the training data came from several
communities (the rows' ``source``), the n-gram model has a shared part plus one correction per
community (feature augmentation), because communities label the same words differently ("ez" is a
taunt in one game's data and harmless in another's); a server names its community with the
``prefilter_community`` setting and gets the shared part alone otherwise. Training
records the range the embedding term took out of fold for messages of similar n-gram logit
(:class:`Blend` bands), so a message whose routing no plausible embedding term could change skips
the embedding: see :meth:`PrefilterModel.bounds` and :mod:`.scorer`.

The parts live in :mod:`.parts`; :mod:`.model_files` reads and writes a model folder
(``model.json``, ``vocabulary.json``, ``weights.npz``, beside ``thresholds.json`` and ``MODEL_CARD.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import csr_matrix

from modbot.stages.prefilter.embedder import EMBEDDING_DIM
from modbot.stages.prefilter.ngrams import NgramFeaturizer
from modbot.stages.prefilter.parts import CommunityWeights, EmbeddingHead, NeighbourMemory

__all__ = ["Blend", "ModelError", "PrefilterModel", "SimilarityParams", "logit", "sigmoid"]


class ModelError(ValueError):
    """A prefilter folder that cannot be loaded; the message names the file."""


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    """The logistic function, clipped so that extreme logits do not overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def logit(p: float) -> float:
    """The inverse of :func:`sigmoid` for a probability (kept away from 0 and 1)."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


@dataclass(frozen=True)
class Blend:
    """How the two logits combine, learned on out-of-fold predictions."""

    ngram_weight: float
    embed_weight: float
    bias: float
    #: Weight of the neighbour memory's unsafe rate (0: no memory).
    memory_weight: float = 0.0
    #: The range of the embedding-dependent term (``embed_weight * embed_logit + memory_weight *
    #: neighbour_rate``) seen in training, widened by a margin.
    embed_range: tuple[float, float] = (0.0, 0.0)
    #: The same range per band of the base logit (the two models agree more often than not, so a
    #: message the n-gram model finds very clean rarely gets a large embedding term): upper edges of
    #: the bands, and the low/high embedding term seen in each (0.1 and 99.9 percentiles plus a
    #: margin). Empty: use ``embed_range`` everywhere.
    band_edges: tuple[float, ...] = ()
    band_lo: tuple[float, ...] = ()
    band_hi: tuple[float, ...] = ()
    #: The same bands for other central shares (share -> (lo, hi)), to trade speed for exactness
    #: at load time (``EmbeddingPrefilter(skip_share=...)``) without retraining.
    alt_bands: dict[float, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    skip_share: float | None = None

    def with_skip_share(self, share: float) -> Blend:
        """This blend using the bands stored for ``share`` (one of :attr:`alt_bands`)."""
        if share not in self.alt_bands:
            known = ", ".join(str(k) for k in sorted(self.alt_bands)) or "none"
            raise ModelError(f"this model has no skip bands for share {share} (it has: {known})")
        lo, hi = self.alt_bands[share]
        return replace(self, band_lo=lo, band_hi=hi, skip_share=share)

    def term_range(self, base_logit: float) -> tuple[float, float]:
        if not self.band_edges:
            return self.embed_range
        i = min(int(np.searchsorted(self.band_edges, base_logit)), len(self.band_edges) - 1)
        return self.band_lo[i], self.band_hi[i]

    def term_ranges(self, base_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`term_range` for many base logits at once: (low terms, high terms)."""
        base_logits = np.asarray(base_logits, dtype=np.float64)
        if not self.band_edges:
            return np.full(len(base_logits), self.embed_range[0]), np.full(len(base_logits), self.embed_range[1])
        i = np.minimum(np.searchsorted(self.band_edges, base_logits), len(self.band_edges) - 1)
        return np.asarray(self.band_lo)[i], np.asarray(self.band_hi)[i]


@dataclass(frozen=True, slots=True)
class SimilarityParams:
    """Similarity to a server's own labelled examples moves the logit.

    Cosine similarity above ``threshold`` to a violating example adds up to ``weight`` (at 1.0, an
    identical text); to a benign example (a moderator overturned it) it subtracts up to ``weight``.
    """

    threshold: float = 0.8
    weight: float = 4.0

    def adjustment(self, to_violation: float, to_benign: float) -> float:
        span = max(1e-6, 1.0 - self.threshold)
        up = max(0.0, to_violation - self.threshold) / span
        down = max(0.0, to_benign - self.threshold) / span
        # Near both kinds (a confirmed and an overturned message that look alike): the nearer wins,
        # by the margin between them.
        return self.weight * (up - down)


@dataclass(frozen=True)
class PrefilterModel:
    """A loaded prefilter classifier."""

    featurizer: NgramFeaturizer
    ngram_coef: np.ndarray
    ngram_intercept: float
    head: EmbeddingHead | None
    blend: Blend
    similarity: SimilarityParams = SimilarityParams()
    #: Provenance written by training (data files, row counts, figures); shown in the model card.
    info: dict[str, object] = field(default_factory=dict)
    communities: CommunityWeights | None = None
    memory: NeighbourMemory | None = None
    #: The languages (ISO 639-1) of the training data (``model.json`` ``languages``; English when absent).
    languages: tuple[str, ...] = ("en",)

    @property
    def uses_embeddings(self) -> bool:
        uses_head = self.head is not None and self.blend.embed_weight != 0.0
        uses_memory = self.memory is not None and self.blend.memory_weight != 0.0
        return uses_head or uses_memory

    @property
    def community_names(self) -> tuple[str, ...]:
        return self.communities.names if self.communities is not None else ()

    def ngram_features(self, texts: Sequence[str]) -> csr_matrix:
        return self.featurizer.transform(texts)

    def ngram_logits(self, features: csr_matrix, communities: Sequence[str | None] | None = None) -> np.ndarray:
        """The n-gram logit per row: the shared part, plus each row's community correction if known."""
        shared = np.asarray(features @ self.ngram_coef).ravel() + self.ngram_intercept
        if communities is None or self.communities is None:
            return shared
        weights = self.communities
        index = np.array([-1 if (i := weights.index(c)) is None else i for c in communities])
        for i in range(len(weights.names)):
            rows = np.flatnonzero(index == i)
            if len(rows):
                shared[rows] += np.asarray(features[rows] @ weights.coef[i]).ravel() + weights.bias[i]
        return shared

    def community_offset(self, community: str | None, cols: np.ndarray, vals: np.ndarray) -> float:
        """The community correction of one feature row (see :class:`CommunityWeights`)."""
        return self.communities.offset(community, cols, vals) if self.communities is not None else 0.0

    def base_logits(self, ngram_logits: np.ndarray) -> np.ndarray:
        """The blended logit without the embedding term."""
        return self.blend.ngram_weight * ngram_logits + self.blend.bias

    def embed_terms(self, features: np.ndarray, memory_rates: np.ndarray | None = None) -> np.ndarray:
        """The embedding-dependent part of the logit per row of pooled MiniLM features.

        ``memory_rates`` (from :meth:`memory_rates`) can be passed when already computed (the scorer
        computes them in its batch worker); otherwise they are computed here.
        """
        terms = np.zeros(len(features))
        if self.head is not None and self.blend.embed_weight != 0.0:
            terms += self.blend.embed_weight * self.head.logits(features)
        if self.memory is not None and self.blend.memory_weight != 0.0:
            rates = self.memory_rates(features) if memory_rates is None else memory_rates
            terms += self.blend.memory_weight * np.asarray(rates)
        return terms

    def memory_rates(self, features: np.ndarray) -> np.ndarray:
        """The neighbour memory's unsafe rate per row of pooled features (zeros without a memory)."""
        if self.memory is None:
            return np.zeros(len(features))
        return self.memory.rates(features[:, :EMBEDDING_DIM])

    def bounds(self, base_logit: float) -> tuple[float, float]:
        """The lowest and highest logit the embedding term could give a message of this base logit."""
        lo, hi = self.blend.term_range(base_logit) if self.uses_embeddings else (0.0, 0.0)
        return base_logit + lo, base_logit + hi
