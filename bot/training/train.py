"""``modbot train-prefilter``: fit the n-gram model, the embedding head and the neighbour memory, blend, calibrate.

1. Every text is folded exactly as the Judge folds it, and embedded once (unique texts only).
2. The n-gram model is one logistic regression over character/word n-grams, with a correction per
   community when the rows come from several sources (see :func:`_community_design`).
3. k-fold out-of-fold values of the three parts (n-gram logit, embedding-head logit, neighbour
   unsafe rate) train the blend (a small logistic regression), so the blend and the thresholds are
   fitted on predictions for data each part did not see.
4. Every part is refitted on all rows; thresholds for the target recall come from the
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
from scipy.sparse import csr_matrix, diags, hstack

from bot.stages.normalize import normalize
from bot.domain.policy import Policy
from bot.training.data import LabelledRow
from bot.stages.prefilter.embedder import EMBEDDING_DIM, OnnxEmbedder
from bot.stages.prefilter.model import (
    Blend,
    CommunityWeights,
    EmbeddingHead,
    NeighbourMemory,
    PrefilterModel,
    SimilarityParams,
    logit,
    sigmoid,
)
from bot.stages.prefilter.ngrams import NgramFeaturizer, NgramSpec
from bot.stages.prefilter.scorer import SHARED_THRESHOLDS_FILE
from bot.stages.prefilter.thresholds import Thresholds, calibrate

__all__ = ["TrainConfig", "TrainError", "TrainReport", "train_prefilter"]

#: Skip bands are stored for these central shares too (see ``TrainConfig.skip_share``).
ALT_SKIP_SHARES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)

Progress = Callable[[str, int, int], None]


class TrainError(ValueError):
    """The data cannot train a prefilter (too few rows, one class only)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Knobs of ``train-prefilter`` (the defaults are what the shipped model and the report used)."""

    target_recall: float = 0.95
    act_precision: float = 0.98
    folds: int = 5
    ngram_c: float = 1.5
    #: Logistic-regression strength of the embedding head when ``embed_hidden`` is 0.
    embed_c: float = 0.1
    #: Hidden units of the embedding head's MLP (0: logistic regression, as format 1 models).
    embed_hidden: int = 256
    embed_alpha: float = 1e-2
    #: MLPs (different seeds) whose logits the head averages.
    embed_ensemble: int = 3
    #: Below this many rows the head is logistic regression whatever ``embed_hidden`` says (an MLP
    #: fitted on a few hundred messages is overconfident, and its thresholds with it).
    min_hidden_rows: int = 1000
    use_embeddings: bool = True
    #: Keep the training messages' embeddings for a nearest-neighbour unsafe rate (larger model folder).
    memory: bool = True
    memory_k: int = 20
    memory_sharpness: float = 10.0
    #: Principal components the memory keeps (0: all 384 dimensions).
    memory_dims: int = 128
    #: Per-source corrections of the n-gram model: True, False, or None (when two or more sources qualify).
    communities: bool | None = None
    min_community_rows: int = 200
    ngrams: NgramSpec = field(default_factory=NgramSpec)
    seed: int = 0
    #: Widenings (in logits) of each band's embedding-term range tried for skip bounds.
    range_margins: tuple[float, ...] = (0.0, 0.1, 0.25)
    #: Each band's range covers this central share of the embedding terms seen out of fold: the
    #: embedding is skipped when no term inside it could change the routing. Lower is faster; the
    #: routing of a message whose term falls outside can differ from the full computation
    #: (``modbot eval --no-skip`` measures it). None: the margin and share that skip the most within
    #: ``max_skip_cost`` and ``max_skip_loss`` (see :func:`_choose_skips`).
    skip_share: float | None = None
    max_skip_cost: float = 0.005
    max_skip_loss: float = 0.005
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
    #: For servers that name no community (models trained with communities only).
    shared_thresholds: Thresholds | None = None


def _fit_ngram(x, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear", max_iter=3000).fit(x, y)


def _fit_head(features: np.ndarray, y: np.ndarray, config: TrainConfig) -> EmbeddingHead:
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


def _community_groups(rows: Sequence[LabelledRow], config: TrainConfig) -> tuple[np.ndarray, list[str]]:
    """Each row's community index (-1: shared part only) and the community names, in order.

    A source becomes a community when ``config.communities`` allows it (None: when the data holds at
    least two sources that qualify) and it has ``min_community_rows`` rows with both labels present
    at least ``config.folds`` times each.
    """
    from collections import Counter

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


def _community_design(x: csr_matrix, groups: np.ndarray, n: int) -> csr_matrix:
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

    groups, community_names = _community_groups(rows, config)
    design = _community_design(x, groups, len(community_names))

    mean_vectors = features[:, :EMBEDDING_DIM] if features is not None else None
    use_memory = features is not None and config.memory

    # Out-of-fold logits for the blend and the calibration: columns n-gram, head, memory rate.
    oof = np.zeros((len(rows), 3))
    oof_shared = np.zeros(len(rows))
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), y)):
        say("folds", fold, config.folds)
        fold_ngram = _fit_ngram(design[train_idx], y[train_idx], config.ngram_c)
        oof[test_idx, 0] = fold_ngram.decision_function(design[test_idx])
        if community_names:
            # The shared part alone, as a server that names no community gets it.
            shared_coef = fold_ngram.coef_[0][: featurizer.size]
            oof_shared[test_idx] = x[test_idx] @ shared_coef + fold_ngram.intercept_[0]
        if features is not None:
            fold_head = _fit_head(features[train_idx], y[train_idx], config)
            oof[test_idx, 1] = fold_head.logits(features[test_idx])
        if use_memory:
            assert mean_vectors is not None
            fold_memory = NeighbourMemory.build(
                [folded[i] for i in train_idx],
                mean_vectors[train_idx],
                y[train_idx],
                k=config.memory_k,
                sharpness=config.memory_sharpness,
                dims=config.memory_dims,
                seed=config.seed,
            )
            oof[test_idx, 2] = fold_memory.rates(mean_vectors[test_idx])
    say("folds", config.folds, config.folds)

    from sklearn.linear_model import LogisticRegression

    a, b, m, c = 1.0, 0.0, 0.0, 0.0
    if features is not None:
        columns = [0, 1, 2] if use_memory else [0, 1]
        blend_clf = LogisticRegression(C=10.0, max_iter=1000).fit(oof[:, columns], y)
        weights = [float(w) for w in blend_clf.coef_[0]]
        a, b = weights[0], weights[1]
        m = weights[2] if use_memory else 0.0
        c = float(blend_clf.intercept_[0])
    base_oof = a * oof[:, 0] + c
    terms_oof = b * oof[:, 1] + m * oof[:, 2]
    oof_logit = base_oof + terms_oof
    oof_score = np.asarray(sigmoid(oof_logit))

    say("final model", 0, 1)
    final_ngram = _fit_ngram(design, y, config.ngram_c)
    head = _fit_head(features, y, config) if features is not None else None
    memory = None
    if use_memory:
        assert mean_vectors is not None
        memory = NeighbourMemory.build(
            folded,
            mean_vectors,
            y,
            k=config.memory_k,
            sharpness=config.memory_sharpness,
            dims=config.memory_dims,
            seed=config.seed,
        )
    say("final model", 1, 1)
    blend = Blend(a, b, c, m)

    keyword_hits = None
    if policy is not None:
        from bot.stages.keywords import KeywordMatcher

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

    thresholds = calibrate_on(oof_score, "scores")
    shared_base_oof = a * oof_shared + c
    shared_thresholds = (
        calibrate_on(np.asarray(sigmoid(shared_base_oof + terms_oof)), "scores of the shared model (no community)")
        if community_names
        else None
    )
    skip_loss = None
    if head is not None:
        choice = _choose_skips(
            (a, b, c, m),
            base_oof,
            shared_base_oof if shared_thresholds is not None else None,
            terms_oof,
            y.astype(bool),
            thresholds,
            shared_thresholds,
            calibrate_on,
            config,
        )
        blend, thresholds, shared_thresholds = choice.blend, choice.thresholds, choice.shared_thresholds
        skip_loss = choice.report
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
            "embed_hidden": config.embed_hidden,
            "embed_alpha": config.embed_alpha,
            "embed_ensemble": config.embed_ensemble,
            "use_embeddings": config.use_embeddings,
            "memory": use_memory,
            "memory_k": config.memory_k,
            "memory_sharpness": config.memory_sharpness,
            "memory_dims": config.memory_dims,
            "seed": config.seed,
        },
        "communities": {
            name: int((groups == i).sum()) for i, name in enumerate(community_names)
        },
        "skip_share": blend.skip_share,
        "skip_replay": skip_loss,
    }
    size = featurizer.size
    coef = final_ngram.coef_[0].astype(np.float32)
    communities = None
    if community_names:
        n = len(community_names)
        communities = CommunityWeights(
            tuple(community_names),
            coef[size : size * (n + 1)].reshape(n, size).copy(),
            coef[size * (n + 1) :].copy(),
        )
    model = PrefilterModel(
        featurizer=featurizer,
        ngram_coef=coef[:size].copy(),
        ngram_intercept=float(final_ngram.intercept_[0]),
        head=head,
        blend=blend,
        similarity=SimilarityParams(),
        info=info,
        communities=communities,
        memory=memory,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    thresholds.save(out / "thresholds.json")
    shared_path = out / SHARED_THRESHOLDS_FILE
    if shared_thresholds is not None:
        shared_thresholds.save(shared_path)
    elif shared_path.exists():
        shared_path.unlink()  # left by an earlier training into the same folder
    (out / "MODEL_CARD.md").write_text(model_card(model, thresholds, rows, shared_thresholds), encoding="utf-8")
    return TrainReport(out, len(rows), n_unsafe, thresholds, auc, seconds, featurizer.size, shared_thresholds)


@dataclass(frozen=True, slots=True)
class _SkipChoice:
    blend: Blend
    thresholds: Thresholds
    shared_thresholds: Thresholds | None
    report: dict[str, float]


def _choose_skips(
    weights: tuple[float, float, float, float],
    base: np.ndarray,
    shared_base: np.ndarray | None,
    terms: np.ndarray,
    y: np.ndarray,
    exact: Thresholds,
    shared_exact: Thresholds | None,
    calibrate_on: Callable[[np.ndarray, str], Thresholds],
    config: TrainConfig,
) -> _SkipChoice:
    """The skip bands (margin and share) that skip the most, within the cost budget.

    Each candidate is replayed on the out-of-fold values; the allow threshold is calibrated again on
    the replayed scores (so the target recall holds with the skips), and the candidate is acceptable
    when that costs at most ``max_skip_cost`` of benign escalation (for servers with and without a
    community) and its skips, before recalibration, let through at most ``max_skip_loss`` of the
    unsafe messages. None acceptable: the widest bands.
    """
    a, b, c, m = weights
    shares = (config.skip_share,) if config.skip_share is not None else ALT_SKIP_SHARES
    best: tuple[float, _SkipChoice] | None = None
    widest: _SkipChoice | None = None
    for margin in sorted(config.range_margins):
        bands = _bounded_blend(a, b, c, m, base, terms, margin, max(shares))
        for share in sorted(shares):
            candidate = bands.with_skip_share(share)
            replayed = np.asarray(sigmoid(_replay_logits(candidate, base, terms, exact)))
            thresholds = calibrate_on(replayed, "scores with embedding skips replayed")
            cost = thresholds.benign_escalated_share - exact.benign_escalated_share
            shared_thresholds = None
            if shared_base is not None and shared_exact is not None:
                replayed = np.asarray(sigmoid(_replay_logits(candidate, shared_base, terms, shared_exact)))
                shared_thresholds = calibrate_on(replayed, "shared-model scores with embedding skips replayed")
                cost = max(cost, shared_thresholds.benign_escalated_share - shared_exact.benign_escalated_share)
            replay = _skip_loss(candidate, base, terms, y, exact)
            report = {
                **replay,
                "margin": margin,
                "benign_escalated_exact": round(exact.benign_escalated_share, 4),
                "benign_escalated_with_skips": round(thresholds.benign_escalated_share, 4),
                "cost": round(cost, 4),
            }
            choice = _SkipChoice(candidate, thresholds, shared_thresholds, report)
            widest = choice  # the last one tried: the largest margin and share
            acceptable = cost <= config.max_skip_cost and replay["unsafe_let_through_share"] <= config.max_skip_loss
            if acceptable and (best is None or replay["skipped_share"] > best[0]):
                best = (replay["skipped_share"], choice)
    assert widest is not None
    return best[1] if best is not None else widest


def _bounded_blend(
    a: float, b: float, c: float, m: float, base: np.ndarray, terms: np.ndarray, margin: float, share: float
) -> Blend:
    """The blend with the embedding term's range, overall and per band of the base logit.

    Out-of-fold values are used, as they are what unseen messages look like. Each band keeps the
    central ``share`` of its terms; ``margin`` (in logits) widens the range a little.
    """
    lo, hi = float(terms.min()), float(terms.max())
    pad = 0.25 * (hi - lo)
    bands = max(1, min(20, len(base) // 500))
    edges = np.quantile(base, np.linspace(0, 1, bands + 1)[1:])
    edges[-1] = np.inf
    which = np.searchsorted(edges, base)
    finite = [float(e) if np.isfinite(e) else 1e9 for e in edges]
    alt: dict[float, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for other in sorted({*ALT_SKIP_SHARES, share}):
        o_lo, o_hi = [], []
        for i in range(bands):
            in_band = terms[which == i]
            if len(in_band) < 50:
                o_lo.append(lo - pad)
                o_hi.append(hi + pad)
            else:
                tail = (1.0 - other) / 2
                o_lo.append(float(np.quantile(in_band, tail)) - margin)
                o_hi.append(float(np.quantile(in_band, 1.0 - tail)) + margin)
        alt[other] = (tuple(o_lo), tuple(o_hi))
    return Blend(a, b, c, m, (lo - pad, hi + pad), tuple(finite), alt[share][0], alt[share][1], alt, share)


def _skip_regions(
    blend: Blend, base: np.ndarray, thresholds: Thresholds
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scorer's skip rule over many messages: (lo, hi, skipped low, skipped high or mid)."""
    allow = logit(thresholds.allow_below) if thresholds.allow_below > 0 else -np.inf
    act = logit(thresholds.act_above) if thresholds.act_above < 1 else np.inf
    term_lo, term_hi = blend.term_ranges(base)
    lo, hi = base + term_lo, base + term_hi
    skipped_low = hi < allow
    skipped_above = ~skipped_low & ((lo >= act) | ((lo >= allow) & (hi < act)))
    return lo, hi, skipped_low, skipped_above


def _replay_logits(blend: Blend, base: np.ndarray, terms: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """The logits the scorer would return: exact where it embeds, the bound it returns where it skips."""
    lo, hi, skipped_low, skipped_above = _skip_regions(blend, base, thresholds)
    out = base + terms
    out[skipped_low] = hi[skipped_low]
    out[skipped_above] = lo[skipped_above]
    return out


def _skip_loss(
    blend: Blend, base: np.ndarray, terms: np.ndarray, y: np.ndarray, thresholds: Thresholds
) -> dict[str, float]:
    """Replays the skip rule on out-of-fold logits: share skipped, and unsafe messages it would allow."""
    allow = logit(thresholds.allow_below) if thresholds.allow_below > 0 else -np.inf
    _, _, skipped_low, skipped_above = _skip_regions(blend, base, thresholds)
    lost = skipped_low & (base + terms >= allow) & y
    return {
        "skipped_share": round(float((skipped_low | skipped_above).mean()), 4),
        "unsafe_let_through": int(lost.sum()),
        "unsafe_let_through_share": round(float(lost.sum() / max(1, int(y.sum()))), 5),
    }


def _rows_digest(rows: Sequence[LabelledRow]) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(f"{int(r.unsafe)}\x00{r.text}\x01".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def _describe_head(model: PrefilterModel) -> str:
    head = model.head
    if head is None:
        return "none"
    if head.hidden_weight is not None:
        nets = int((model.info.get("config") or {}).get("embed_ensemble") or 1)  # type: ignore[union-attr]
        units = head.hidden_weight.shape[1]
        shape = f"{nets} averaged MLPs of {units // nets} ReLU units" if nets > 1 else f"MLP ({units} ReLU units)"
        return f"{shape} on MiniLM mean+max pooled features"
    return "logistic regression on MiniLM mean+max pooled features"


def model_card(
    model: PrefilterModel,
    thresholds: Thresholds,
    rows: Sequence[LabelledRow],
    shared_thresholds: Thresholds | None = None,
) -> str:
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
        f"- n-gram TF-IDF (characters {model.featurizer.spec.char_min}-{model.featurizer.spec.char_max} within tokens, "
        f"words {model.featurizer.spec.word_min}-{model.featurizer.spec.word_max}; {model.featurizer.size} features) "
        "+ logistic regression, on the folded text",
        "- communities (per-source corrections of the n-gram model): "
        + (", ".join(f"{k} ({v} rows)" for k, v in (info.get("communities") or {}).items()) or "none"),
        f"- embedding head: {_describe_head(model)}" + (f" ({info.get('embedding_model')})" if model.head is not None else ""),
        "- neighbour memory: "
        + (
            f"{len(model.memory)} distinct training texts in {model.memory.vectors.shape[1]} dimensions, "
            f"k={model.memory.k}, sharpness {model.memory.sharpness}"
            if model.memory is not None
            else "none"
        ),
        f"- blend: logit = {model.blend.ngram_weight:.3f} * ngram + {model.blend.embed_weight:.3f} * embed "
        f"+ {model.blend.memory_weight:.3f} * neighbour_rate {model.blend.bias:+.3f} (fitted on out-of-fold values); "
        f"out-of-fold ROC AUC {info.get('oof_auc')}",
        f"- similarity to a server's examples: +/- up to {model.similarity.weight} logit above cosine "
        f"{model.similarity.threshold}",
        f"- embedding skipped when it cannot change the routing: skip bands for share {model.blend.skip_share}; "
        f"replayed out of fold: {info.get('skip_replay')}",
        "",
        "## Thresholds (thresholds.json)",
        "",
        f"- target recall {thresholds.target_recall}: allow below {thresholds.allow_below:.4f} "
        f"(recall {thresholds.recall:.3f}, benign escalated {thresholds.benign_escalated_share:.3f} on {thresholds.calibrated_on})",
        f"- act at or above {thresholds.act_above:.4f} (precision target {thresholds.act_precision})",
        *(
            [
                f"- servers that name no community (`{SHARED_THRESHOLDS_FILE}`): allow below "
                f"{shared_thresholds.allow_below:.4f} (recall {shared_thresholds.recall:.3f}, benign escalated "
                f"{shared_thresholds.benign_escalated_share:.3f}), act at or above {shared_thresholds.act_above:.4f}"
            ]
            if shared_thresholds is not None
            else []
        ),
        f"- policy: {thresholds.policy_id or '(none: keyword stage not part of the calibration)'}"
        + (f" version {thresholds.policy_version}" if thresholds.policy_version else ""),
        "",
        "Thresholds hold for data like the training data; calibrate again (train on your own labelled",
        "messages) for a community whose chat looks different.",
        "",
    ]
    return "\n".join(lines)
