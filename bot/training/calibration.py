"""Thresholds from scores: in-distribution (out of fold) and for unknown communities (leave-one-dataset-out).

The ``unknown`` thresholds are calibrated on :class:`modbot.training.lodo.HeldOut` scores, blended with
the final model's weights (and its skip bands replayed, as the scorer will skip), so that the
target recall holds on sources the model did not see. How the held-out sources are combined
(``TrainConfig.lodo_combine``):

- ``worst`` (default): the lowest of the sources' own thresholds for the target recall, so every
  held-out source with at least ``MIN_WORST_UNSAFE`` unsafe rows reaches the target (recall first:
  an unknown community may look like the hardest source; the most expensive). Its figures are
  macro-weighted.
- ``macro``: every held-out source counts the same; recall is the mean of the sources' recalls and
  the benign escalated share the mean of theirs. A large source (50,000 IRC lines) does not decide
  the threshold alone, and a small one (769 ToxiGen sentences) is not drowned.
- ``pooled``: all held-out rows together (the largest sources dominate).

Measured for the shipped default (its ``DATA_CARD.md``): on game chat it never saw, ``macro`` kept
0.83 of the unsafe messages and ``worst`` 0.93; ``pooled`` 0.76.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from modbot.domain.policy import Policy
from modbot.stages.keywords import KeywordMatcher
from modbot.stages.language import identify, needs_reasoner
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.model import Blend, sigmoid
from modbot.stages.prefilter.thresholds import Thresholds, allow_threshold_for_recall, calibrate
from modbot.training.config import TrainConfig
from modbot.training.data import LabelledRow
from modbot.training.lodo import HeldOut
from modbot.training.skips import replay_logits

__all__ = [
    "COMBINES", "Calibrator", "auc", "calibrator", "keyword_hits_of", "lodo_thresholds", "macro_weights", "routed_anyway",
    "routed_rows",
]  # fmt: skip

COMBINES = ("macro", "pooled", "worst")
#: ``worst`` ignores the threshold of a held-out source with fewer unsafe rows than this.
MIN_WORST_UNSAFE = 20
UNKNOWN = "unknown communities (not learned by the model)"
LEARNED = "learned communities (the training data's own distribution)"

#: Calibrates thresholds on out-of-fold scores; the text says which scores (for the thresholds file).
Calibrator = Callable[[np.ndarray, str], Thresholds]


def keyword_hits_of(texts: Iterable[str], policy: Policy | None) -> list[bool] | None:
    """Whether ``policy``'s keyword stage matches each text (None without a policy)."""
    if policy is None:
        return None
    matcher = KeywordMatcher.build(policy)
    return [matcher.scan(text).matched for text in texts]


def routed_anyway(texts: Sequence[str], policy: Policy | None, languages: frozenset[str]) -> np.ndarray:
    """Which messages the Judge sends on whatever the prefilter scores: a keyword hit of ``policy``, or
    a language outside ``languages`` (the ones the pipeline routes by; empty: none is routed), as
    ``unknown_language = "escalate"`` (the default) routes it. It does not depend on the model's scores,
    so a comparison computes it once for both sides, and calibration counts these messages as escalated
    whatever their score (as it counts keyword hits)."""
    routed = np.array(keyword_hits_of(texts, policy) or [False] * len(texts), dtype=bool)
    if languages:
        for i, text in enumerate(texts):
            routed[i] = routed[i] or needs_reasoner(identify(normalize(text).clean), languages)
    return routed


def routed_rows(
    rows: Sequence[LabelledRow], policy: Policy | None, languages: Sequence[str], config: TrainConfig
) -> list[bool] | None:
    """Which rows the Judge sends on whatever their score (None: none): calibration counts them as
    escalated. Without it the threshold would also have to catch, by score, the unsafe messages in
    languages the model does not know, which the pipeline routes anyway (they score low: the model
    never saw their words), and would escalate benign messages for nothing."""
    routed = routed_anyway(
        [r.text for r in rows], policy, frozenset(languages) if config.count_language_routing else frozenset()
    )
    return routed.tolist() if policy is not None or routed.any() else None


def calibrator(
    y: np.ndarray,
    rows: Sequence[LabelledRow],
    config: TrainConfig,
    policy: Policy | None,
    sources: Sequence[str],
    keyword_hits: Sequence[bool] | None,
) -> Calibrator:
    """Calibrates in-distribution thresholds on out-of-fold scores of all rows."""
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
            applies_to=LEARNED,
            weights=weights,
            noise=noise,
        )

    # Audited labels weigh 1 / audit_share: recall and escalation are counted as in the traffic, not
    # in the biased sample the audits drew.
    weights = [r.weight for r in rows] if any(r.weight != 1.0 for r in rows) else None
    # Reasoner labels are wrong now and then: recall is estimated for the true classes, else the
    # threshold must also escalate the benign messages mislabelled unsafe (README, learning).
    noise = [r.noise for r in rows] if any(r.noise > 0 for r in rows) else None
    return calibrate_on


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def macro_weights(y: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Weights under which every source's unsafe rows weigh 1 in total, and its benign rows 1 too."""
    w = np.zeros(len(y))
    for s in np.unique(source):
        for label in (True, False):
            mask = (source == s) & (y == label)
            if mask.any():
                w[mask] = 1.0 / mask.sum()
    return w


def lodo_thresholds(
    held: HeldOut,
    blend: Blend,
    y: np.ndarray,
    keyword_hits: Sequence[bool] | None,
    config: TrainConfig,
    policy: Policy | None,
    in_distribution: Thresholds,
) -> Thresholds:
    """The ``unknown`` thresholds: calibrated on the held-out sources' scores (see the module doc)."""
    if config.lodo_combine not in COMBINES:
        raise ValueError(f"lodo_combine must be one of {', '.join(COMBINES)}")
    mask = held.mask
    yy = y[mask].astype(bool)
    source = held.source_index[mask]
    hits = None if keyword_hits is None else np.asarray(keyword_hits, dtype=bool)[mask]
    base = blend.ngram_weight * held.ngram_logit[mask] + blend.bias
    terms = blend.embed_weight * held.head_logit[mask] + blend.memory_weight * held.memory_rate[mask]
    weights = macro_weights(yy, source) if config.lodo_combine != "pooled" else None
    description = (
        f"leave-one-dataset-out over {len(held.names)} sources ({config.lodo_combine}: "
        "each source scored by parts fitted on the others, as an unknown community)"
    )

    def at(scores: np.ndarray, allow_below: float | None = None) -> Thresholds:
        if allow_below is None and config.lodo_combine == "worst":
            allow_below = min(
                (
                    allow_threshold_for_recall(scores[source == i], yy[source == i], _part(hits, source == i), config.target_recall)
                    for i in range(len(held.names))
                    if int(yy[source == i].sum()) >= MIN_WORST_UNSAFE
                ),
                default=None,
            )
        return calibrate(
            scores,
            yy,
            hits,
            target_recall=config.target_recall,
            act_precision=config.act_precision,
            calibrated_on=description,
            policy_id=policy.id if policy is not None else None,
            policy_version=policy.version if policy is not None else None,
            weights=weights,
            allow_below=allow_below,
            applies_to=UNKNOWN,
        )

    logits = base + terms
    exact = at(np.asarray(sigmoid(logits)))
    if blend.band_edges:  # the scorer's embedding skips, replayed with these thresholds
        logits = replay_logits(blend, base, terms, exact)
    scores = np.asarray(sigmoid(logits))
    result = at(scores)
    per_source = _per_source(held.names, scores, yy, source, hits, result.allow_below, config.target_recall)
    return replace(
        result,
        combine=config.lodo_combine,
        per_source=per_source,
        in_distribution={
            "allow_below": in_distribution.allow_below,
            "act_above": in_distribution.act_above,
            "recall": round(in_distribution.recall, 4),
            "benign_escalated_share": round(in_distribution.benign_escalated_share, 4),
            "calibrated_on": in_distribution.calibrated_on,
        },
    )


def _part(hits: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    return None if hits is None else hits[mask]


def _per_source(
    names: list[str],
    scores: np.ndarray,
    y: np.ndarray,
    source: np.ndarray,
    hits: np.ndarray | None,
    allow_below: float,
    target: float,
) -> dict[str, dict[str, float | int | None]]:
    """Each held-out source: rows, AUC, recall and benign escalated at ``allow_below``, its own threshold."""
    out: dict[str, dict[str, float | int | None]] = {}
    for i, name in enumerate(names):
        m = source == i
        s, yy, k = scores[m], y[m], _part(hits, m)
        escalated = (s >= allow_below) | (k if k is not None else False)
        n_unsafe, n_benign = int(yy.sum()), int((~yy).sum())
        own = allow_threshold_for_recall(s, yy, k, target) if n_unsafe else None
        own_benign = None
        if own is not None and n_benign:
            own_escalated = (s >= own) | (k if k is not None else False)
            own_benign = round(float((own_escalated & ~yy).sum() / n_benign), 4)
        out[name] = {
            "n": int(m.sum()),
            "unsafe": n_unsafe,
            "auc": round(auc(yy.astype(int), s), 4) if 0 < n_unsafe < len(yy) else None,
            "recall": round(float((escalated & yy).sum() / n_unsafe), 4) if n_unsafe else None,
            "benign_escalated_share": round(float((escalated & ~yy).sum() / n_benign), 4) if n_benign else None,
            "allow_below_for_target": round(own, 6) if own is not None else None,
            "benign_escalated_at_target": own_benign,
        }
    return out
