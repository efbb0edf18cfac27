"""Choosing the prefilter's skip bands: when the embedding may be skipped without changing the routing.

Each candidate (a margin and a central share of the embedding terms seen out of fold, per band of the
base logit) is replayed on the out-of-fold values with the scorer's own skip rule (:func:`replay_logits`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from modbot.stages.prefilter.model import Blend, logit, sigmoid
from modbot.stages.prefilter.thresholds import Thresholds
from modbot.training.config import TrainConfig

__all__ = ["ALT_SKIP_SHARES", "SkipChoice", "choose_skips", "replay_logits", "skip_loss"]

#: Skip bands are stored for these central shares too (see ``TrainConfig.skip_share``).
ALT_SKIP_SHARES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


@dataclass(frozen=True, slots=True)
class SkipChoice:
    """The chosen bands (in ``blend``), the thresholds recalibrated with them, and the replay's figures."""

    blend: Blend
    thresholds: Thresholds
    shared_thresholds: Thresholds | None
    report: dict[str, float]


def choose_skips(
    weights: Blend,
    base: np.ndarray,
    shared_base: np.ndarray | None,
    terms: np.ndarray,
    y: np.ndarray,
    exact: Thresholds,
    shared_exact: Thresholds | None,
    calibrate_on: Callable[[np.ndarray, str], Thresholds],
    config: TrainConfig,
) -> SkipChoice:
    """The skip bands (margin and share) that skip the most, within the cost budget.

    Each candidate is replayed on the out-of-fold values; the allow threshold is calibrated again on
    the replayed scores (so the target recall holds with the skips), and the candidate is acceptable
    when that costs at most ``max_skip_cost`` of benign escalation (for servers with and without a
    community) and its skips, before recalibration, let through at most ``max_skip_loss`` of the
    unsafe messages. None acceptable: the widest bands.
    """
    shares = (config.skip_share,) if config.skip_share is not None else ALT_SKIP_SHARES
    best: tuple[float, SkipChoice] | None = None
    widest: SkipChoice | None = None
    for margin in sorted(config.range_margins):
        bands = _bounded_blend(weights, base, terms, margin, max(shares))
        for share in sorted(shares):
            candidate = bands.with_skip_share(share)
            replayed = np.asarray(sigmoid(replay_logits(candidate, base, terms, exact)))
            thresholds = calibrate_on(replayed, "scores with embedding skips replayed")
            cost = thresholds.benign_escalated_share - exact.benign_escalated_share
            shared_thresholds = None
            if shared_base is not None and shared_exact is not None:
                replayed = np.asarray(sigmoid(replay_logits(candidate, shared_base, terms, shared_exact)))
                shared_thresholds = calibrate_on(replayed, "shared-model scores with embedding skips replayed")
                cost = max(cost, shared_thresholds.benign_escalated_share - shared_exact.benign_escalated_share)
            replay = skip_loss(candidate, base, terms, y, exact)
            report = {
                **replay,
                "margin": margin,
                "benign_escalated_exact": round(exact.benign_escalated_share, 4),
                "benign_escalated_with_skips": round(thresholds.benign_escalated_share, 4),
                "cost": round(cost, 4),
            }
            choice = SkipChoice(candidate, thresholds, shared_thresholds, report)
            widest = choice  # the last one tried: the largest margin and share
            acceptable = cost <= config.max_skip_cost and replay["unsafe_let_through_share"] <= config.max_skip_loss
            if acceptable and (best is None or replay["skipped_share"] > best[0]):
                best = (replay["skipped_share"], choice)
    assert widest is not None
    return best[1] if best is not None else widest


def _bounded_blend(weights: Blend, base: np.ndarray, terms: np.ndarray, margin: float, share: float) -> Blend:
    """``weights`` with the embedding term's range, overall and per band of the base logit.

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
    return replace(
        weights,
        embed_range=(lo - pad, hi + pad),
        band_edges=tuple(finite),
        band_lo=alt[share][0],
        band_hi=alt[share][1],
        alt_bands=alt,
        skip_share=share,
    )


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


def replay_logits(blend: Blend, base: np.ndarray, terms: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """The logits the scorer would return: exact where it embeds, the bound it returns where it skips."""
    lo, hi, skipped_low, skipped_above = _skip_regions(blend, base, thresholds)
    out = base + terms
    out[skipped_low] = hi[skipped_low]
    out[skipped_above] = lo[skipped_above]
    return out


def skip_loss(
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
