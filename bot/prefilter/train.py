"""``modbot train-prefilter``: fit the n-gram model and the embedding head, blend them, calibrate.

1. Every text is folded exactly as the Judge folds it, and embedded once (unique texts only).
2. k-fold out-of-fold logits of both models train the blend (a 3-parameter logistic regression),
   so the blend and the thresholds are fitted on predictions for data each model did not see.
3. Both models are refitted on all rows; thresholds for the target recall come from the
   out-of-fold scores (with the policy's keyword stage, when one is given).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..normalize import normalize
from ..policy import Policy
from .data import LabelledRow
from .embedder import OnnxEmbedder
from .model import Blend, EmbeddingHead, PrefilterModel, SimilarityParams, sigmoid
from .ngrams import NgramFeaturizer, NgramSpec
from .thresholds import Thresholds, calibrate

__all__ = ["TrainConfig", "TrainError", "TrainReport", "train_prefilter"]

Progress = Callable[[str, int, int], None]


class TrainError(ValueError):
    """The data cannot train a prefilter (too few rows, one class only)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Knobs of ``train-prefilter`` (the defaults are what the shipped model and the report used)."""

    target_recall: float = 0.95
    act_precision: float = 0.98
    folds: int = 5
    ngram_c: float = 1.0
    embed_c: float = 0.1
    use_embeddings: bool = True
    ngrams: NgramSpec = field(default_factory=NgramSpec)
    seed: int = 0
    #: Widening of the embedding term's training range used for skip bounds (fraction of the range).
    range_margin: float = 0.25
    name: str = ""


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What training produced (also written into the model card)."""

    directory: Path
    rows: int
    unsafe: int
    thresholds: Thresholds
    oof_auc: float
    seconds: float
    vocabulary: int


def _fit_ngram(x, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear", max_iter=3000).fit(x, y)


def _fit_head(features: np.ndarray, y: np.ndarray, c: float) -> EmbeddingHead:
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-6] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000).fit((features - mean) / scale, y)
    return EmbeddingHead(mean.astype(np.float32), scale.astype(np.float32), clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def train_prefilter(
    rows: Sequence[LabelledRow],
    out: Path,
    *,
    config: TrainConfig = TrainConfig(),
    policy: Policy | None = None,
    embedder: OnnxEmbedder | None = None,
    progress: Progress | None = None,
    sources: Sequence[str] = (),
) -> TrainReport:
    """Train on ``rows`` and write the model folder ``out``; see the module documentation."""
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    say = progress or (lambda stage, done, total: None)
    y = np.fromiter((r.unsafe for r in rows), dtype=np.int8, count=len(rows))
    n_unsafe = int(y.sum())
    if len(rows) < 20:
        raise TrainError(f"too few rows to train on ({len(rows)}; at least 20)")
    if n_unsafe < config.folds or len(rows) - n_unsafe < config.folds:
        raise TrainError(
            f"need at least {config.folds} unsafe and {config.folds} safe rows (got {n_unsafe} unsafe, {len(rows) - n_unsafe} safe)"
        )

    folded = [normalize(r.text).folded for r in rows]
    say("ngrams", 0, 1)
    featurizer = NgramFeaturizer.fit(folded, config.ngrams)
    x = featurizer.transform(folded)
    say("ngrams", 1, 1)

    features = None
    if config.use_embeddings:
        embedder = embedder or OnnxEmbedder()
        unique = list(dict.fromkeys(folded))
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            say("embeddings", done, len(unique))

        pooled = embedder.pooled_many(unique, progress=tick)
        position = {text: i for i, text in enumerate(unique)}
        features = pooled[[position[t] for t in folded]]

    # Out-of-fold logits for the blend and the calibration.
    oof = np.zeros((len(rows), 2))
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), y)):
        say("folds", fold, config.folds)
        oof[test_idx, 0] = _fit_ngram(x[train_idx], y[train_idx], config.ngram_c).decision_function(x[test_idx])
        if features is not None:
            head = _fit_head(features[train_idx], y[train_idx], config.embed_c)
            oof[test_idx, 1] = head.logits(features[test_idx])
    say("folds", config.folds, config.folds)

    from sklearn.linear_model import LogisticRegression

    if features is not None:
        blend_clf = LogisticRegression(C=10.0, max_iter=1000).fit(oof, y)
        a, b = (float(w) for w in blend_clf.coef_[0])
        c = float(blend_clf.intercept_[0])
    else:
        a, b, c = 1.0, 0.0, 0.0
    oof_logit = a * oof[:, 0] + b * oof[:, 1] + c
    oof_score = np.asarray(sigmoid(oof_logit))

    final_ngram = _fit_ngram(x, y, config.ngram_c)
    head = _fit_head(features, y, config.embed_c) if features is not None else None
    embed_range = (0.0, 0.0)
    if head is not None and features is not None:
        terms = b * head.logits(features)
        lo, hi = float(terms.min()), float(terms.max())
        pad = config.range_margin * (hi - lo)
        embed_range = (lo - pad, hi + pad)

    keyword_hits = None
    if policy is not None:
        from ..keywords import KeywordMatcher

        matcher = KeywordMatcher.build(policy)
        keyword_hits = [matcher.scan(r.text).matched for r in rows]
    description = ", ".join(sources) if sources else f"{len(rows)} rows"
    thresholds = calibrate(
        oof_score,
        y.astype(bool),
        keyword_hits,
        target_recall=config.target_recall,
        act_precision=config.act_precision,
        calibrated_on=f"{config.folds}-fold out-of-fold scores on the training data ({description})",
        policy_id=policy.id if policy is not None else None,
        policy_version=policy.version if policy is not None else None,
    )
    auc = _auc(y, oof_logit)
    seconds = time.perf_counter() - started
    info: dict[str, object] = {
        "name": config.name or out.name,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": list(sources),
        "rows": len(rows),
        "unsafe": n_unsafe,
        "data_sha256": _rows_digest(rows),
        "embedding_model": embedder.model_id if embedder is not None else None,
        "oof_auc": round(auc, 4),
        "train_seconds": round(seconds, 1),
        "config": {
            "folds": config.folds,
            "ngram_c": config.ngram_c,
            "embed_c": config.embed_c,
            "use_embeddings": config.use_embeddings,
            "seed": config.seed,
        },
    }
    model = PrefilterModel(
        featurizer=featurizer,
        ngram_coef=final_ngram.coef_[0].astype(np.float32),
        ngram_intercept=float(final_ngram.intercept_[0]),
        head=head,
        blend=Blend(a, b, c, embed_range),
        similarity=SimilarityParams(),
        info=info,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    thresholds.save(out / "thresholds.json")
    (out / "MODEL_CARD.md").write_text(model_card(model, thresholds, rows), encoding="utf-8")
    return TrainReport(out, len(rows), n_unsafe, thresholds, auc, seconds, featurizer.size)


def _rows_digest(rows: Sequence[LabelledRow]) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(f"{int(r.unsafe)}\x00{r.text}\x01".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def model_card(model: PrefilterModel, thresholds: Thresholds, rows: Sequence[LabelledRow]) -> str:
    """A short Markdown description of a trained prefilter: data, method, thresholds."""
    from collections import Counter

    info = model.info
    categories = Counter(r.category for r in rows if r.unsafe)
    sources = Counter(r.source for r in rows)
    lines = [
        f"# Prefilter model card: {info.get('name')}",
        "",
        f"Trained {info.get('trained_at')} by `modbot train-prefilter` in {info.get('train_seconds')} s.",
        "",
        "## Data",
        "",
        f"- files: {', '.join(map(str, info.get('data') or [])) or '(not recorded)'}",
        f"- rows: {info.get('rows')} ({info.get('unsafe')} unsafe); sha256 of the rows: `{info.get('data_sha256')}`",
        "- by source: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()),
        "- unsafe by category: " + ", ".join(f"{k} {v}" for k, v in categories.most_common(12)),
        "",
        "## Method",
        "",
        f"- n-gram TF-IDF (characters {model.featurizer.spec.char_min}-{model.featurizer.spec.char_max} within words, "
        f"words {model.featurizer.spec.word_min}-{model.featurizer.spec.word_max}; {model.featurizer.size} features) "
        "+ logistic regression, on the folded text",
        f"- embedding head: {'logistic regression on MiniLM mean+max pooled features' if model.head is not None else 'none'}"
        + (f" ({info.get('embedding_model')})" if model.head is not None else ""),
        f"- blend: logit = {model.blend.ngram_weight:.3f} * ngram + {model.blend.embed_weight:.3f} * embed "
        f"{model.blend.bias:+.3f} (fitted on out-of-fold logits); out-of-fold ROC AUC {info.get('oof_auc')}",
        f"- similarity to a server's examples: +/- up to {model.similarity.weight} logit above cosine "
        f"{model.similarity.threshold}",
        "",
        "## Thresholds (thresholds.json)",
        "",
        f"- target recall {thresholds.target_recall}: allow below {thresholds.allow_below:.4f} "
        f"(recall {thresholds.recall:.3f}, benign escalated {thresholds.benign_escalated_share:.3f} on {thresholds.calibrated_on})",
        f"- act at or above {thresholds.act_above:.4f} (precision target {thresholds.act_precision})",
        f"- policy: {thresholds.policy_id or '(none: keyword stage not part of the calibration)'}"
        + (f" version {thresholds.policy_version}" if thresholds.policy_version else ""),
        "",
        "Thresholds hold for data like the training data; calibrate again (train on your own labelled",
        "messages) for a community whose chat looks different.",
        "",
    ]
    return "\n".join(lines)
