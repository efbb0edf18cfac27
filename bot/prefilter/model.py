"""The trained prefilter classifier: n-gram model + embedding head, blended into one risk score.

``logit = a * ngram_logit + b * embed_logit + c`` (+ the similarity adjustment of :mod:`.examples`),
``score = sigmoid(logit)``. The n-gram model is cheap; the embedding head needs MiniLM. Training
records the range the embedding term took out of fold for messages of similar n-gram logit
(:class:`Blend` bands), so a message whose routing no plausible embedding term could change skips
the embedding: see :meth:`PrefilterModel.bounds` and :mod:`.scorer`.

A model folder holds ``model.json`` (settings, blend, provenance), ``vocabulary.json`` (n-grams),
``weights.npz`` (float arrays only, loaded with ``allow_pickle=False``), ``thresholds.json`` and
``MODEL_CARD.md``. Nothing in it is executable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from .ngrams import NgramFeaturizer, NgramSpec

__all__ = [
    "MODEL_FORMAT",
    "Blend",
    "EmbeddingHead",
    "ModelError",
    "PrefilterModel",
    "SimilarityParams",
    "sigmoid",
]

MODEL_FORMAT = 1


class ModelError(ValueError):
    """A prefilter folder that cannot be loaded; the message names the file."""


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


@dataclass(frozen=True, slots=True)
class EmbeddingHead:
    """Logistic regression over standardised pooled MiniLM features (mean + max, 768 values)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept


@dataclass(frozen=True)
class Blend:
    """How the two logits combine, learned on out-of-fold predictions."""

    ngram_weight: float
    embed_weight: float
    bias: float
    #: The range of ``embed_weight * embed_logit`` seen in training, widened by a margin.
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

    @property
    def uses_embeddings(self) -> bool:
        return self.head is not None and self.blend.embed_weight != 0.0

    def ngram_features(self, texts: Sequence[str]) -> csr_matrix:
        return self.featurizer.transform(texts)

    def ngram_logits(self, features: csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.ngram_coef).ravel() + self.ngram_intercept

    def base_logits(self, ngram_logits: np.ndarray) -> np.ndarray:
        """The blended logit without the embedding term."""
        return self.blend.ngram_weight * ngram_logits + self.blend.bias

    def embed_terms(self, features: np.ndarray) -> np.ndarray:
        """``embed_weight * embed_logit`` per row of pooled MiniLM features."""
        if self.head is None:
            return np.zeros(len(features))
        return self.blend.embed_weight * self.head.logits(features)

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
        if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
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
                    arrays["head_mean"], arrays["head_scale"], arrays["head_coef"], float(meta["head_intercept"])
                )
            b = meta["blend"]
            blend = Blend(
                float(b["ngram_weight"]),
                float(b["embed_weight"]),
                float(b["bias"]),
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
        )
