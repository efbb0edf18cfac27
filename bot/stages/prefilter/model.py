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

A model folder holds ``model.json`` (settings, blend, communities, provenance), ``vocabulary.json``
(n-grams), ``weights.npz`` (numeric arrays only, loaded with ``allow_pickle=False``; the neighbour
memory's vectors are float16), ``thresholds.json`` and ``MODEL_CARD.md``. Nothing in it is
executable. Format 1 folders (no communities, linear head, no memory) still load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from bot.stages.prefilter.embedder import EMBEDDING_DIM, FEATURE_DIM
from bot.stages.prefilter.ngrams import NgramFeaturizer, NgramSpec

__all__ = [
    "MODEL_FORMAT",
    "Blend",
    "CommunityWeights",
    "EmbeddingHead",
    "ModelError",
    "NeighbourMemory",
    "PrefilterModel",
    "SimilarityParams",
    "sigmoid",
]

MODEL_FORMAT = 2
_READABLE_FORMATS = (1, 2)


class ModelError(ValueError):
    """A prefilter folder that cannot be loaded; the message names the file."""


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


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
        return _unit_rows(vectors)

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


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


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

    # --- files ------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "idf": self.featurizer.idf.astype(np.float32),
            "ngram_coef": self.ngram_coef.astype(np.float32),
        }
        if self.head is not None:
            arrays.update(
                head_mean=self.head.mean.astype(np.float32),
                head_scale=self.head.scale.astype(np.float32),
                head_coef=self.head.coef.astype(np.float32),
            )
            if self.head.hidden_weight is not None and self.head.hidden_bias is not None:
                arrays.update(
                    head_hidden_weight=self.head.hidden_weight.astype(np.float32),
                    head_hidden_bias=self.head.hidden_bias.astype(np.float32),
                )
        if self.communities is not None:
            arrays.update(
                community_coef=self.communities.coef.astype(np.float32),
                community_bias=self.communities.bias.astype(np.float32),
            )
        if self.memory is not None:
            arrays.update(
                memory_vectors=self.memory.vectors.astype(np.float16),
                memory_counts=self.memory.counts.astype(np.float32),
                memory_unsafe=self.memory.unsafe.astype(np.float32),
            )
            if self.memory.projection is not None and self.memory.center is not None:
                arrays.update(
                    memory_center=self.memory.center.astype(np.float32),
                    memory_projection=self.memory.projection.astype(np.float32),
                )
        np.savez_compressed(directory / "weights.npz", **arrays)
        (directory / "vocabulary.json").write_text(
            json.dumps(self.featurizer.vocabulary, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        meta = {
            "format": MODEL_FORMAT,
            "ngrams": self.featurizer.spec.to_json(),
            "ngram_intercept": self.ngram_intercept,
            "head_intercept": self.head.intercept if self.head is not None else None,
            "blend": {
                "ngram_weight": self.blend.ngram_weight,
                "embed_weight": self.blend.embed_weight,
                "bias": self.blend.bias,
                "memory_weight": self.blend.memory_weight,
                "embed_range": list(self.blend.embed_range),
                "band_edges": list(self.blend.band_edges),
                "band_lo": list(self.blend.band_lo),
                "band_hi": list(self.blend.band_hi),
                "skip_share": self.blend.skip_share,
                "alt_bands": {
                    str(k): {"lo": list(lo), "hi": list(hi)} for k, (lo, hi) in sorted(self.blend.alt_bands.items())
                },
            },
            "similarity": {"threshold": self.similarity.threshold, "weight": self.similarity.weight},
            "communities": list(self.community_names),
            "memory": (
                {
                    "k": self.memory.k,
                    "sharpness": self.memory.sharpness,
                    "texts": len(self.memory),
                    "dims": int(self.memory.vectors.shape[1]),
                }
                if self.memory is not None
                else None
            ),
            "info": self.info,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> PrefilterModel:
        directory = Path(directory)
        if not directory.is_dir():
            raise ModelError(
                f"{directory}: not a prefilter folder (run 'modbot train-prefilter ... --out {directory}')"
            )
        paths = {name: directory / name for name in ("model.json", "vocabulary.json", "weights.npz")}
        for path in paths.values():
            if not path.is_file():
                raise ModelError(f"{path}: missing (a prefilter folder holds model.json, vocabulary.json, weights.npz)")
        try:
            meta = json.loads(paths["model.json"].read_text(encoding="utf-8"))
            vocabulary = json.loads(paths["vocabulary.json"].read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{directory}: cannot read the model description: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") not in _READABLE_FORMATS:
            raise ModelError(
                f"{paths['model.json']}: unknown model format {meta.get('format') if isinstance(meta, dict) else meta!r}"
            )
        if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
            raise ModelError(f"{paths['vocabulary.json']}: expected a JSON list of strings")
        try:
            with np.load(paths["weights.npz"], allow_pickle=False) as data:
                arrays = {key: np.asarray(data[key], dtype=np.float32) for key in data.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{paths['weights.npz']}: cannot read: {exc}") from None
        try:
            spec = NgramSpec(**meta["ngrams"])
            featurizer = NgramFeaturizer(spec, vocabulary, arrays["idf"])
            coef = arrays["ngram_coef"]
            if len(coef) != featurizer.size:
                raise ModelError(f"{directory}: the n-gram weights do not match the vocabulary")
            head = None
            if meta.get("head_intercept") is not None:
                head = EmbeddingHead(
                    arrays["head_mean"],
                    arrays["head_scale"],
                    arrays["head_coef"],
                    float(meta["head_intercept"]),
                    arrays.get("head_hidden_weight"),
                    arrays.get("head_hidden_bias"),
                )
                _check_head(head, directory)
            communities = None
            names = tuple(str(n) for n in meta.get("communities") or ())
            if names:
                c_coef, c_bias = arrays["community_coef"], arrays["community_bias"]
                if c_coef.shape != (len(names), featurizer.size) or c_bias.shape != (len(names),):
                    raise ModelError(f"{directory}: the community weights do not match the communities and vocabulary")
                communities = CommunityWeights(names, c_coef, c_bias)
            memory = None
            if meta.get("memory"):
                vectors = arrays["memory_vectors"]
                counts, unsafe = arrays["memory_counts"], arrays["memory_unsafe"]
                center, projection = arrays.get("memory_center"), arrays.get("memory_projection")
                if vectors.ndim != 2 or not len(vectors) == len(counts) == len(unsafe):
                    raise ModelError(f"{directory}: the neighbour memory's arrays do not match")
                if (center is None) != (projection is None) or (
                    projection is not None and projection.shape != (len(center), vectors.shape[1])
                ):
                    raise ModelError(f"{directory}: the neighbour memory's projection does not match its vectors")
                memory = NeighbourMemory(
                    _unit_rows(vectors),
                    counts,
                    unsafe,
                    int(meta["memory"]["k"]),
                    float(meta["memory"]["sharpness"]),
                    center,
                    projection,
                )
            b = meta["blend"]
            blend = Blend(
                float(b["ngram_weight"]),
                float(b["embed_weight"]),
                float(b["bias"]),
                float(b.get("memory_weight", 0.0)),
                tuple(float(v) for v in b["embed_range"]),  # type: ignore[arg-type]
                tuple(float(v) for v in b.get("band_edges", ())),
                tuple(float(v) for v in b.get("band_lo", ())),
                tuple(float(v) for v in b.get("band_hi", ())),
                {
                    float(k): (tuple(float(x) for x in v["lo"]), tuple(float(x) for x in v["hi"]))
                    for k, v in (b.get("alt_bands") or {}).items()
                },
                b.get("skip_share"),
            )
            if not len(blend.band_edges) == len(blend.band_lo) == len(blend.band_hi):
                raise ModelError(f"{paths['model.json']}: blend bands of different lengths")
            sim = meta.get("similarity") or {}
            similarity = SimilarityParams(float(sim.get("threshold", 0.8)), float(sim.get("weight", 4.0)))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"{directory}: incomplete or inconsistent model ({exc!r})") from None
        return cls(
            featurizer=featurizer,
            ngram_coef=coef,
            ngram_intercept=float(meta["ngram_intercept"]),
            head=head,
            blend=blend,
            similarity=similarity,
            info=dict(meta.get("info") or {}),
            communities=communities,
            memory=memory,
        )


def _check_head(head: EmbeddingHead, directory: Path) -> None:
    """Shapes that would otherwise fail only when the first message is embedded."""
    width = FEATURE_DIM
    if head.mean.shape != (width,) or head.scale.shape != (width,):
        raise ModelError(f"{directory}: the embedding head expects {width} features")
    if head.hidden_weight is not None:
        if head.hidden_bias is None or head.hidden_weight.shape[0] != width:
            raise ModelError(f"{directory}: the embedding head's hidden layer is inconsistent")
        width = head.hidden_weight.shape[1]
        if head.hidden_bias.shape != (width,):
            raise ModelError(f"{directory}: the embedding head's hidden layer is inconsistent")
    if head.coef.shape != (width,):
        raise ModelError(f"{directory}: the embedding head's output weights do not match its input")
