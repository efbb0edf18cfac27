"""``modbot train-prefilter``: fit the n-gram model, the embedding head and the neighbour memory, blend, calibrate.

:func:`train_prefilter` runs these steps, in this order (the order fixes the numbers: it is the order
the shipped model was trained in):

1. :func:`_featurize` — every text folded exactly as the Judge folds it, its n-gram row, and its pooled
   MiniLM features (each unique text embedded once); each row's community (see
   :func:`modbot.training.parts.community_design`).
2. :func:`_out_of_fold` — k-fold out-of-fold values of the three parts (n-gram logit, embedding-head
   logit, neighbour unsafe rate), so the blend and the thresholds are fitted on predictions for data
   each part did not see.
3. :func:`_fit_blend` — the blend weights (a small logistic regression over the out-of-fold values).
4. :func:`_fit_final_parts` — every part refitted on all rows, or (``final_fit = "folds"``) the
   out-of-fold models of step 2 averaged, so the served model is the one the thresholds were
   calibrated on (with noisy labels, steps 2-4 leave out the rows whose label is more likely wrong:
   :mod:`modbot.training.noise`).
5. :func:`_calibrate` — thresholds for the target recall from the out-of-fold scores (messages the Judge
   sends on whatever their score count as escalated: the policy's keyword hits, when one is given, and
   languages outside the model's, :func:`modbot.training.calibration.routed_rows`), for servers with
   and without a community, and the skip bands (:func:`modbot.training.skips.choose_skips`).
6. :func:`modbot.training.lodo.held_out_values` (run after step 2; ``blend_on="lodo"`` fits step 3 on
   them) and :func:`modbot.training.calibration.lodo_thresholds`: with two or more sources, the
   ``unknown`` thresholds, calibrated on sources the model did not see (leave-one-dataset-out).
7. :func:`modbot.training.folder.write_model` — the model folder: weights, thresholds (which file
   holds which: :mod:`modbot.training.folder`) and the model card.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from modbot.domain.policy import Policy
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.embedder import EMBEDDING_DIM, OnnxEmbedder
from modbot.stages.prefilter.model import Blend, sigmoid
from modbot.stages.prefilter.ngrams import NgramFeaturizer
from modbot.stages.prefilter.parts import EmbeddingHead, NeighbourMemory
from modbot.stages.prefilter.thresholds import Thresholds
from modbot.training.calibration import Calibrator, auc, calibrator, lodo_thresholds, macro_weights, routed_rows
from modbot.training.card import provenance
from modbot.training.config import FINAL_FITS, TrainConfig, TrainError, TrainReport
from modbot.training.data import LabelledRow, row_languages
from modbot.training.folder import FinalParts, assemble_model, write_model
from modbot.training.lodo import HeldOut, held_out_values
from modbot.training.noise import rows_to_fit
from modbot.training.parts import (
    average_heads, build_memory, community_design, community_groups, fit_embedding_head, fit_ngram, memory_rates,
)  # fmt: skip
from modbot.training.skips import choose_skips

__all__ = ["Progress", "TrainConfig", "TrainError", "TrainReport", "train_prefilter"]

#: ``progress(stage, done, total)``: called as training advances (the CLI draws bars with it).
Progress = Callable[[str, int, int], None]


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
    timings: dict[str, float] = {}  # seconds per step, recorded in model.json

    def step(name: str, marks: list[float] = [started]) -> None:  # noqa: B006 (one list per call of train_prefilter)
        marks.append(time.perf_counter())
        timings[name] = round(marks[-1] - marks[-2], 1)

    say = progress or (lambda stage, done, total: None)
    if config.final_fit not in FINAL_FITS:
        raise TrainError(f"final_fit must be {' or '.join(FINAL_FITS)} (got {config.final_fit!r})")
    y = _labels(rows, config)
    if config.use_embeddings:
        embedder = embedder or OnnxEmbedder()
    data = _featurize(rows, config, embedder if config.use_embeddings else None, say)
    step("features")
    noise = np.fromiter((r.fitting_noise for r in rows), dtype=np.float64, count=len(rows))
    fit = rows_to_fit(data.design, data.pooled, y, noise, config) if (noise > 0).any() else np.ones(len(y), bool)
    step("noise")
    oof = _out_of_fold(data, y, config, say, fit)
    step("out_of_fold")
    held = held_out_values(
        rows, y, design=data.design, ngrams=data.ngrams, pooled=data.pooled, folded=data.folded,
        memory_rates=memory_rates(config) if data.use_memory else None, config=config, say=say,
    )  # fmt: skip
    step("lodo")
    weights = _fit_blend(oof, y, data, held if config.blend_on == "lodo" else None, fit)
    if config.final_fit == "folds":
        parts = _average_folds(oof, _subset(data, fit), y[fit], config)
    else:
        parts = _fit_final_parts(_subset(data, fit), y[fit], config, say)
    step("final_parts")
    languages = row_languages(rows)
    hits = routed_rows(rows, policy, languages, config)
    calibration = _calibrate(weights, oof, y, data, calibrator(y, rows, config, policy, sources, hits), config)
    unknown = None
    if held is not None:
        in_distribution = calibration.shared_thresholds or calibration.thresholds
        unknown = lodo_thresholds(held, calibration.blend, y, hits, config, policy, in_distribution)
    step("calibration")
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
    info["timings"] = {**timings, **{f"lodo_{k}": v for k, v in (held.seconds if held is not None else {}).items()}}
    model = assemble_model(data.featurizer, data.community_names, parts, calibration.blend, info)
    model = replace(model, languages=languages)
    write_model(
        out, model, rows, thresholds=calibration.thresholds, shared_thresholds=calibration.shared_thresholds, unknown=unknown
    )
    return TrainReport(
        out,
        len(rows),
        int(y.sum()),
        calibration.thresholds,
        calibration.auc,
        seconds,
        data.featurizer.size,
        calibration.shared_thresholds,
        unknown,
        info["timings"],  # type: ignore[arg-type]
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


# -- 2. out-of-fold values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OutOfFold:
    """Each row's part values from models that did not see it (zeros for a part that is not trained)."""

    ngram_logit: np.ndarray
    head_logit: np.ndarray
    memory_rate: np.ndarray
    #: The shared n-gram part alone, as a server that names no community gets it (with communities only).
    shared_ngram_logit: np.ndarray
    #: Each fold's n-gram weights, intercept and embedding head (what ``final_fit = "folds"`` averages).
    fold_parts: tuple[tuple[np.ndarray, float, EmbeddingHead | None], ...] = ()


def _out_of_fold(data: _Features, y: np.ndarray, config: TrainConfig, say: Progress, fit: np.ndarray) -> _OutOfFold:
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    ngram_logit, head_logit, memory_rate, shared = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    vectors = data.mean_vectors
    head_config = replace(config, embed_ensemble=config.oof_ensemble) if config.oof_ensemble else config
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    # every row is scored; doubted labels are not learned
    splits = [(train_idx[fit[train_idx]], test_idx) for train_idx, test_idx in splitter.split(np.zeros(n), y)]
    if min(len(t) for t, _ in splits) < head_config.min_hidden_rows <= max(len(t) for t, _ in splits):
        head_config = replace(head_config, embed_hidden=0)  # one kind of head in every fold (they may be averaged)
    fold_parts = []
    for fold, (train_idx, test_idx) in enumerate(splits):
        say("folds", fold, config.folds)
        fold_ngram = fit_ngram(data.design[train_idx], y[train_idx], config.ngram_c)
        ngram_logit[test_idx] = fold_ngram.decision_function(data.design[test_idx])
        if data.community_names:
            shared_coef = fold_ngram.coef_[0][: data.featurizer.size]
            shared[test_idx] = data.ngrams[test_idx] @ shared_coef + fold_ngram.intercept_[0]
        fold_head = None
        if data.pooled is not None:
            fold_head = fit_embedding_head(data.pooled[train_idx], y[train_idx], head_config)
            head_logit[test_idx] = fold_head.logits(data.pooled[test_idx])
        fold_parts.append((fold_ngram.coef_[0].astype(np.float32), float(fold_ngram.intercept_[0]), fold_head))
        if data.use_memory:
            assert vectors is not None
            fold_memory = build_memory([data.folded[i] for i in train_idx], vectors[train_idx], y[train_idx], config)
            memory_rate[test_idx] = fold_memory.rates(vectors[test_idx])
    say("folds", config.folds, config.folds)
    return _OutOfFold(ngram_logit, head_logit, memory_rate, shared, tuple(fold_parts))


# -- 3. the blend ----------------------------------------------------------------------------------------------


def _fit_blend(oof: _OutOfFold, y: np.ndarray, data: _Features, held: HeldOut | None, fit: np.ndarray) -> Blend:
    """Blend weights (no skip bands yet) fitted on out-of-fold values, or on ``held``-out sources' (each weighing the same)."""
    if data.pooled is None:
        return Blend(ngram_weight=1.0, embed_weight=0.0, bias=0.0, memory_weight=0.0)
    from sklearn.linear_model import LogisticRegression

    part = oof if held is None else held
    m = fit if held is None else held.mask
    columns = [part.ngram_logit[m], part.head_logit[m]] + ([part.memory_rate[m]] if data.use_memory else [])
    w = None if held is None else macro_weights(y[m].astype(bool), held.source_index[m])
    fitted = LogisticRegression(C=10.0, max_iter=1000).fit(np.column_stack(columns), y[m], sample_weight=w)
    weights = [float(w) for w in fitted.coef_[0]]
    return Blend(
        ngram_weight=weights[0],
        embed_weight=weights[1],
        bias=float(fitted.intercept_[0]),
        memory_weight=weights[2] if data.use_memory else 0.0,
    )


# -- 4. the final parts ----------------------------------------------------------------------------------------


def _subset(data: _Features, keep: np.ndarray) -> _Features:
    if keep.all():
        return data
    pooled = data.pooled[keep] if data.pooled is not None else None
    folded = [t for t, k in zip(data.folded, keep) if k]
    return replace(data, folded=folded, ngrams=data.ngrams[keep], design=data.design[keep], pooled=pooled, groups=data.groups[keep])


def _fit_final_parts(data: _Features, y: np.ndarray, config: TrainConfig, say: Progress) -> FinalParts:
    say("final model", 0, 1)
    ngram = fit_ngram(data.design, y, config.ngram_c)
    head = fit_embedding_head(data.pooled, y, config) if data.pooled is not None else None
    memory = _final_memory(data, y, config)
    say("final model", 1, 1)
    return FinalParts(ngram.coef_[0].astype(np.float32), float(ngram.intercept_[0]), head, memory)


def _average_folds(oof: _OutOfFold, data: _Features, y: np.ndarray, config: TrainConfig) -> FinalParts:
    """The out-of-fold models averaged (a linear n-gram model averages exactly; the heads side by
    side, :func:`~modbot.training.parts.average_heads`), and the memory over every row fitted on."""
    coefs, intercepts, heads = zip(*oof.fold_parts)
    return FinalParts(
        np.mean(coefs, axis=0).astype(np.float32),
        float(np.mean(intercepts)),
        average_heads(heads) if data.pooled is not None else None,  # type: ignore[arg-type]
        _final_memory(data, y, config),
    )


def _final_memory(data: _Features, y: np.ndarray, config: TrainConfig) -> NeighbourMemory | None:
    """The served neighbour memory: every row fitted on (either way the final parts are made)."""
    if not data.use_memory:
        return None
    assert data.mean_vectors is not None
    return build_memory(data.folded, data.mean_vectors, y, config)


# -- 5. thresholds and skip bands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Calibration:
    blend: Blend
    thresholds: Thresholds
    shared_thresholds: Thresholds | None
    skip_report: dict[str, float] | None
    auc: float


def _calibrate(
    weights: Blend, oof: _OutOfFold, y: np.ndarray, data: _Features, calibrate_on: Calibrator, config: TrainConfig
) -> _Calibration:
    base = weights.ngram_weight * oof.ngram_logit + weights.bias
    terms = weights.embed_weight * oof.head_logit + weights.memory_weight * oof.memory_rate
    logits = base + terms
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
    return _Calibration(blend, thresholds, shared_thresholds, skip_report, auc(y, logits))
