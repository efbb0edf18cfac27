"""``modbot train-prefilter``: fit the n-gram model, the embedding head and the neighbour memory, blend, calibrate.

:func:`train_prefilter` runs these steps, in this order (the order fixes the numbers: it is the order
the shipped model was trained in):

1. :func:`_featurize` — every text folded exactly as the Judge folds it, its n-gram row, and its pooled
   MiniLM features (each unique text embedded once); each row's community (see
   :func:`bot.training.parts.community_design`).
2. :func:`_out_of_fold` — k-fold out-of-fold values of the three parts (n-gram logit, embedding-head
   logit, neighbour unsafe rate), so the blend and the thresholds are fitted on predictions for data
   each part did not see.
3. :func:`_fit_blend` — the blend weights (a small logistic regression over the out-of-fold values).
4. :func:`_fit_final_parts` — every part refitted on all rows.
5. :func:`_calibrate` — thresholds for the target recall from the out-of-fold scores (with the policy's
   keyword stage, when one is given), for servers with and without a community, and the skip bands
   (:func:`bot.training.skips.choose_skips`).
6. :func:`_write_model` — the model folder: weights, thresholds and the model card.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from bot.domain.policy import Policy
from bot.stages.keywords import KeywordMatcher
from bot.stages.normalize import normalize
from bot.stages.prefilter.embedder import EMBEDDING_DIM, OnnxEmbedder
from bot.stages.prefilter.model import Blend, PrefilterModel, SimilarityParams, sigmoid
from bot.stages.prefilter.model_files import save_model
from bot.stages.prefilter.ngrams import NgramFeaturizer
from bot.stages.prefilter.parts import CommunityWeights, EmbeddingHead, NeighbourMemory
from bot.stages.prefilter.scorer import SHARED_THRESHOLDS_FILE
from bot.stages.prefilter.thresholds import Thresholds, calibrate
from bot.training.card import model_card, provenance
from bot.training.config import TrainConfig, TrainError, TrainReport
from bot.training.data import LabelledRow
from bot.training.parts import community_design, community_groups, fit_embedding_head, fit_ngram
from bot.training.skips import choose_skips

__all__ = ["Progress", "TrainConfig", "TrainError", "TrainReport", "train_prefilter"]

#: ``progress(stage, done, total)``: called as training advances (the CLI draws bars with it).
Progress = Callable[[str, int, int], None]
#: Calibrates thresholds on out-of-fold scores; the text says which scores (for the thresholds file).
Calibrator = Callable[[np.ndarray, str], Thresholds]


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
    started = time.perf_counter()
    say = progress or (lambda stage, done, total: None)
    y = _labels(rows, config)
    if config.use_embeddings:
        embedder = embedder or OnnxEmbedder()
    data = _featurize(rows, config, embedder if config.use_embeddings else None, say)
    oof = _out_of_fold(data, y, config, say)
    weights = _fit_blend(oof, y, data)
    parts = _fit_final_parts(data, y, config, say)
    calibration = _calibrate(weights, oof, y, data, rows, config, policy, sources)
    seconds = time.perf_counter() - started
    info = provenance(
        config,
        rows,
        name=config.name or out.name,
        sources=sources,
        embedding_model=embedder.model_id if embedder is not None else None,
        oof_auc=calibration.auc,
        seconds=seconds,
        memory=data.use_memory,
        communities={name: int((data.groups == i).sum()) for i, name in enumerate(data.community_names)},
        blend=calibration.blend,
        skip_replay=calibration.skip_report,
    )
    model = _assemble_model(data, parts, calibration.blend, info)
    _write_model(out, model, calibration, rows)
    return TrainReport(
        out,
        len(rows),
        int(y.sum()),
        calibration.thresholds,
        calibration.auc,
        seconds,
        data.featurizer.size,
        calibration.shared_thresholds,
    )


# -- 0. the labels ---------------------------------------------------------------------------------------------


def _labels(rows: Sequence[LabelledRow], config: TrainConfig) -> np.ndarray:
    """The rows' labels (1 = unsafe); raises :class:`TrainError` when they cannot train a model."""
    y = np.fromiter((r.unsafe for r in rows), dtype=np.int8, count=len(rows))
    n_unsafe = int(y.sum())
    if len(rows) < 20:
        raise TrainError(f"too few rows to train on ({len(rows)}; at least 20)")
    if n_unsafe < config.folds or len(rows) - n_unsafe < config.folds:
        raise TrainError(
            f"need at least {config.folds} unsafe and {config.folds} safe rows (got {n_unsafe} unsafe, {len(rows) - n_unsafe} safe)"
        )
    return y


# -- 1. features -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Features:
    """What every row looks like to the model's parts."""

    folded: list[str]
    featurizer: NgramFeaturizer
    #: n-gram rows; ``design`` adds each row's community columns (the n-gram model's input).
    ngrams: csr_matrix
    design: csr_matrix
    #: Pooled MiniLM features (None: trained without embeddings).
    pooled: np.ndarray | None
    groups: np.ndarray
    community_names: list[str]
    use_memory: bool

    @property
    def mean_vectors(self) -> np.ndarray | None:
        """The mean-pooled half of the features: what the neighbour memory compares."""
        return self.pooled[:, :EMBEDDING_DIM] if self.pooled is not None else None


def _featurize(
    rows: Sequence[LabelledRow], config: TrainConfig, embedder: OnnxEmbedder | None, say: Progress
) -> _Features:
    folded = [normalize(r.text).folded for r in rows]
    say("ngrams", 0, 1)
    featurizer = NgramFeaturizer.fit(folded, config.ngrams)
    ngrams = featurizer.transform(folded)
    say("ngrams", 1, 1)

    pooled = None
    if embedder is not None:
        unique = list(dict.fromkeys(folded))
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            say("embeddings", done, len(unique))

        unique_pooled = embedder.pooled_many(unique, progress=tick)
        position = {text: i for i, text in enumerate(unique)}
        pooled = unique_pooled[[position[t] for t in folded]]

    groups, community_names = community_groups(rows, config)
    return _Features(
        folded=folded,
        featurizer=featurizer,
        ngrams=ngrams,
        design=community_design(ngrams, groups, len(community_names)),
        pooled=pooled,
        groups=groups,
        community_names=community_names,
        use_memory=pooled is not None and config.memory,
    )


def _build_memory(folded: list[str], vectors: np.ndarray, y: np.ndarray, config: TrainConfig) -> NeighbourMemory:
    return NeighbourMemory.build(
        folded,
        vectors,
        y,
        k=config.memory_k,
        sharpness=config.memory_sharpness,
        dims=config.memory_dims,
        seed=config.seed,
    )


# -- 2. out-of-fold values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OutOfFold:
    """Each row's part values from models that did not see it (zeros for a part that is not trained)."""

    ngram_logit: np.ndarray
    head_logit: np.ndarray
    memory_rate: np.ndarray
    #: The shared n-gram part alone, as a server that names no community gets it (with communities only).
    shared_ngram_logit: np.ndarray


def _out_of_fold(data: _Features, y: np.ndarray, config: TrainConfig, say: Progress) -> _OutOfFold:
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    ngram_logit, head_logit, memory_rate, shared = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    vectors = data.mean_vectors
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(n), y)):
        say("folds", fold, config.folds)
        fold_ngram = fit_ngram(data.design[train_idx], y[train_idx], config.ngram_c)
        ngram_logit[test_idx] = fold_ngram.decision_function(data.design[test_idx])
        if data.community_names:
            shared_coef = fold_ngram.coef_[0][: data.featurizer.size]
            shared[test_idx] = data.ngrams[test_idx] @ shared_coef + fold_ngram.intercept_[0]
        if data.pooled is not None:
            fold_head = fit_embedding_head(data.pooled[train_idx], y[train_idx], config)
            head_logit[test_idx] = fold_head.logits(data.pooled[test_idx])
        if data.use_memory:
            assert vectors is not None
            fold_memory = _build_memory([data.folded[i] for i in train_idx], vectors[train_idx], y[train_idx], config)
            memory_rate[test_idx] = fold_memory.rates(vectors[test_idx])
    say("folds", config.folds, config.folds)
    return _OutOfFold(ngram_logit, head_logit, memory_rate, shared)


# -- 3. the blend ----------------------------------------------------------------------------------------------


def _fit_blend(oof: _OutOfFold, y: np.ndarray, data: _Features) -> Blend:
    """The blend weights (no skip bands yet); without embeddings the n-gram logit alone."""
    if data.pooled is None:
        return Blend(ngram_weight=1.0, embed_weight=0.0, bias=0.0, memory_weight=0.0)
    from sklearn.linear_model import LogisticRegression

    columns = [oof.ngram_logit, oof.head_logit] + ([oof.memory_rate] if data.use_memory else [])
    fitted = LogisticRegression(C=10.0, max_iter=1000).fit(np.column_stack(columns), y)
    weights = [float(w) for w in fitted.coef_[0]]
    return Blend(
        ngram_weight=weights[0],
        embed_weight=weights[1],
        bias=float(fitted.intercept_[0]),
        memory_weight=weights[2] if data.use_memory else 0.0,
    )


# -- 4. the final parts ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FinalParts:
    ngram_coef: np.ndarray
    ngram_intercept: float
    head: EmbeddingHead | None
    memory: NeighbourMemory | None


def _fit_final_parts(data: _Features, y: np.ndarray, config: TrainConfig, say: Progress) -> _FinalParts:
    say("final model", 0, 1)
    ngram = fit_ngram(data.design, y, config.ngram_c)
    head = fit_embedding_head(data.pooled, y, config) if data.pooled is not None else None
    memory = None
    if data.use_memory:
        assert data.mean_vectors is not None
        memory = _build_memory(data.folded, data.mean_vectors, y, config)
    say("final model", 1, 1)
    return _FinalParts(ngram.coef_[0].astype(np.float32), float(ngram.intercept_[0]), head, memory)


# -- 5. thresholds and skip bands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Calibration:
    blend: Blend
    thresholds: Thresholds
    shared_thresholds: Thresholds | None
    skip_report: dict[str, float] | None
    auc: float


def _calibrate(
    weights: Blend,
    oof: _OutOfFold,
    y: np.ndarray,
    data: _Features,
    rows: Sequence[LabelledRow],
    config: TrainConfig,
    policy: Policy | None,
    sources: Sequence[str],
) -> _Calibration:
    base = weights.ngram_weight * oof.ngram_logit + weights.bias
    terms = weights.embed_weight * oof.head_logit + weights.memory_weight * oof.memory_rate
    logits = base + terms
    calibrate_on = _calibrator(y, rows, config, policy, sources)
    thresholds = calibrate_on(np.asarray(sigmoid(logits)), "scores")
    shared_base = weights.ngram_weight * oof.shared_ngram_logit + weights.bias
    shared_thresholds = (
        calibrate_on(np.asarray(sigmoid(shared_base + terms)), "scores of the shared model (no community)")
        if data.community_names
        else None
    )
    blend, skip_report = weights, None
    if data.pooled is not None:
        choice = choose_skips(
            weights,
            base,
            shared_base if shared_thresholds is not None else None,
            terms,
            y.astype(bool),
            thresholds,
            shared_thresholds,
            calibrate_on,
            config,
        )
        blend, thresholds, shared_thresholds = choice.blend, choice.thresholds, choice.shared_thresholds
        skip_report = choice.report
    return _Calibration(blend, thresholds, shared_thresholds, skip_report, _auc(y, logits))


def _calibrator(
    y: np.ndarray, rows: Sequence[LabelledRow], config: TrainConfig, policy: Policy | None, sources: Sequence[str]
) -> Calibrator:
    keyword_hits = None
    if policy is not None:
        matcher = KeywordMatcher.build(policy)
        keyword_hits = [matcher.scan(r.text).matched for r in rows]
    description = ", ".join(sources) if sources else f"{len(rows)} rows"

    def calibrate_on(scores: np.ndarray, what: str) -> Thresholds:
        return calibrate(
            scores,
            y.astype(bool),
            keyword_hits,
            target_recall=config.target_recall,
            act_precision=config.act_precision,
            calibrated_on=f"{config.folds}-fold out-of-fold {what} on the training data ({description})",
            policy_id=policy.id if policy is not None else None,
            policy_version=policy.version if policy is not None else None,
        )

    return calibrate_on


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


# -- 6. the model folder ---------------------------------------------------------------------------------------


def _assemble_model(data: _Features, parts: _FinalParts, blend: Blend, info: dict[str, object]) -> PrefilterModel:
    # The n-gram model's coefficients are [shared | one block per community | one bias per community].
    size = data.featurizer.size
    coef = parts.ngram_coef
    communities = None
    if data.community_names:
        n = len(data.community_names)
        communities = CommunityWeights(
            tuple(data.community_names),
            coef[size : size * (n + 1)].reshape(n, size).copy(),
            coef[size * (n + 1) :].copy(),
        )
    return PrefilterModel(
        featurizer=data.featurizer,
        ngram_coef=coef[:size].copy(),
        ngram_intercept=parts.ngram_intercept,
        head=parts.head,
        blend=blend,
        similarity=SimilarityParams(),
        info=info,
        communities=communities,
        memory=parts.memory,
    )


def _write_model(out: Path, model: PrefilterModel, calibration: _Calibration, rows: Sequence[LabelledRow]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    calibration.thresholds.save(out / "thresholds.json")
    shared_path = out / SHARED_THRESHOLDS_FILE
    if calibration.shared_thresholds is not None:
        calibration.shared_thresholds.save(shared_path)
    elif shared_path.exists():
        shared_path.unlink()  # left by an earlier training into the same folder
    card = model_card(model, calibration.thresholds, rows, calibration.shared_thresholds)
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
