"""Routing thresholds calibrated to a target recall, and the recall-vs-escalation sweep behind them.

Three outcomes per message: score below ``allow_below`` (and no keyword hit) → allowed without the
reasoner; score at or above ``act_above`` → acted on at once; anything else → the reasoner.
``allow_below`` is the highest threshold that still keeps ``target_recall`` of the unsafe messages
away from "allow" (keyword hits count as kept); ``act_above`` is the lowest threshold whose messages
are unsafe with at least ``act_precision`` (1.0 = never act on the score alone).

Recall and escalation can be weighted per message (``weights``): leave-one-dataset-out calibration
(:mod:`modbot.training.lodo`) weights every held-out source equally, so "recall 0.95" means the mean
recall over the held-out sources, not the recall of the largest one.

Labels can be noisy (``noise``: per message, the probability that its label is the flip of the
truth, whichever the truth is; a reasoner's ``1 - confidence``). Recall and benign escalation are then
estimated for the *true* classes: each message counts as truly unsafe by ``(label - noise) / (1 - 2
noise)`` (:func:`truth_weights`, the unbiased class-conditional correction of Natarajan et al.,
2013), whose expectation is its true class when flips do not depend on the score. Without it, the
benign messages labelled unsafe by mistake (with 10% flips and 19% unsafe chat, 30% of the "unsafe"
labels) must also be escalated to reach the target, and the threshold escalates most benign chat.
With ``noise`` 0 the figures and thresholds are exactly the uncorrected ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["SweepPoint", "Thresholds", "ThresholdsError", "calibrate", "sweep", "truth_weights"]

#: Flip probabilities above this are read as this: the correction divides by ``1 - 2 noise``, and a
#: smaller correction only escalates more (recall first).
MAX_NOISE = 0.3

#: Fewer unsafe messages than this above a candidate act threshold is too little evidence to act on.
MIN_ACT_SUPPORT = 20


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used, or data that cannot calibrate thresholds."""


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Routing at one ``allow_below`` value: how much is caught, and how much is sent on."""

    threshold: float
    recall: float
    escalated_share: float
    benign_escalated_share: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What ``thresholds.json`` in a prefilter folder holds."""

    allow_below: float
    act_above: float
    target_recall: float
    act_precision: float
    #: Recall and benign escalated share at ``allow_below`` on the calibration data.
    recall: float = float("nan")
    benign_escalated_share: float = float("nan")
    n: int = 0
    n_unsafe: int = 0
    calibrated_on: str = ""
    #: Set when a policy's keyword stage took part in the calibration (thresholds then belong to
    #: that policy version).
    policy_id: str | None = None
    policy_version: str | None = None
    sweep: tuple[SweepPoint, ...] = field(default=())
    #: Which servers these thresholds are for: "learned communities" (calibrated on the training
    #: data's own out-of-fold scores) or "unknown communities" (leave-one-dataset-out).
    applies_to: str = ""
    #: Leave-one-dataset-out only: how the held-out sources were combined ("pooled", "macro",
    #: "worst") and, per held-out source, its rows, AUC, recall and benign escalated share at
    #: ``allow_below`` and its own threshold for the target recall.
    combine: str | None = None
    per_source: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    #: Leave-one-dataset-out only: the in-distribution thresholds of the same model, for comparison.
    in_distribution: dict[str, float | int | str | None] | None = None

    def describe(self) -> str:
        """One line for logs and reports: the allow threshold, what it applies to and its price."""
        where = f" for {self.applies_to}" if self.applies_to else ""
        price = ""
        if not math.isnan(self.recall) and not math.isnan(self.benign_escalated_share):
            price = (
                f": recall {self.recall:.3f}, {self.benign_escalated_share:.1%} of benign messages escalated"
                f" on {self.calibrated_on or 'the calibration data'}"
            )
        return f"allow below {self.allow_below:.4f}, act at or above {self.act_above:.4f}{where}{price}"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["sweep"] = [asdict(p) for p in self.sweep]
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Thresholds:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ThresholdsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ThresholdsError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        try:
            sweep_rows = tuple(SweepPoint(**p) for p in data.pop("sweep", []) or [])
            for key in ("recall", "benign_escalated_share"):
                if data.get(key) is None:
                    data[key] = float("nan")
            result = cls(**data, sweep=sweep_rows)
        except TypeError as exc:
            raise ThresholdsError(f"{path}: unexpected content ({exc})") from None
        for name in ("allow_below", "act_above", "target_recall", "act_precision"):
            value = getattr(result, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ThresholdsError(f"{path}: {name} must be a number between 0 and 1, got {value!r}")
        if result.allow_below > result.act_above:
            raise ThresholdsError(f"{path}: allow_below ({result.allow_below}) is above act_above ({result.act_above})")
        return result


def _as_arrays(scores: Sequence[float], labels: Sequence[bool], keyword_hits: Sequence[bool] | None):
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    k = np.zeros_like(y) if keyword_hits is None else np.asarray(keyword_hits, dtype=bool)
    if not (len(s) == len(y) == len(k)):
        raise ThresholdsError("scores, labels and keyword hits differ in length")
    return s, y, k


def _as_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != n or (w < 0).any():
        raise ThresholdsError("weights must be one non-negative number per message")
    return w


def truth_weights(labels: Sequence[bool], noise: Sequence[float] | None) -> np.ndarray:
    """Each message's expected share of being truly unsafe: ``(label - noise) / (1 - 2 noise)``.

    ``noise`` is clamped to [0, :data:`MAX_NOISE`]; a flipped benign message labelled unsafe then
    adds more than 1 and every message labelled safe takes a little away, so that sums over any set
    of messages whose flips do not depend on the set (those scoring at least a threshold) estimate
    its truly unsafe count. ``noise`` None or 0: the labels themselves (1.0 or 0.0).
    """
    y = np.asarray(labels, dtype=np.float64)
    if noise is None:
        return y
    e = np.clip(np.asarray(noise, dtype=np.float64), 0.0, MAX_NOISE)
    if len(e) != len(y):
        raise ThresholdsError("noise must be one number per message")
    return (y - e) / (1.0 - 2.0 * e)


def _shares(
    escalated: np.ndarray, y: np.ndarray, w: np.ndarray, z: np.ndarray | None = None
) -> tuple[float, float]:
    """(weighted recall, weighted benign escalated share) of an escalation mask; ``z``: :func:`truth_weights`."""
    if z is None:
        pos, neg = float(w[y].sum()), float(w[~y].sum())
        recall = float(w[escalated & y].sum() / pos) if pos > 0 else 0.0
        benign = float(w[escalated & ~y].sum() / neg) if neg > 0 else 0.0
        return recall, benign
    wz, wb = w * z, w * (1.0 - z)
    pos, neg = float(wz.sum()), float(wb.sum())
    recall = min(1.0, max(0.0, float(wz[escalated].sum() / pos))) if pos > 0 else 0.0
    benign = min(1.0, max(0.0, float(wb[escalated].sum() / neg))) if neg > 0 else 0.0
    return recall, benign


def sweep(
    scores: Sequence[float],
    labels: Sequence[bool],
    keyword_hits: Sequence[bool] | None = None,
    *,
    points: int = 201,
    extra: Sequence[float] = (),
    weights: Sequence[float] | None = None,
    noise: Sequence[float] | None = None,
) -> tuple[SweepPoint, ...]:
    """Recall and escalation for ``allow_below`` on an even grid over [0, 1] (plus ``extra`` values)."""
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    w = _as_weights(weights, len(s))
    z = None if noise is None else truth_weights(y, noise)
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, points), np.asarray(extra, dtype=np.float64)]))
    total = float(w.sum())
    out = []
    for t in grid:
        escalated = k | (s >= t)
        recall, benign = _shares(escalated, y, w, z)
        out.append(
            SweepPoint(
                threshold=round(float(t), 6),
                recall=recall,
                escalated_share=float(w[escalated].sum() / total) if total > 0 else 0.0,
                benign_escalated_share=benign,
            )
        )
    return tuple(out)


def allow_threshold_for_recall(
    scores: Sequence[float],
    labels: Sequence[bool],
    keyword_hits: Sequence[bool] | None,
    target_recall: float,
    weights: Sequence[float] | None = None,
    noise: Sequence[float] | None = None,
) -> float:
    """The highest ``allow_below`` that keeps ``target_recall`` of the unsafe messages from being allowed.

    With ``weights``, recall is the weighted share of the unsafe messages kept. With ``noise``, it is
    the corrected estimate of the truly unsafe share kept (:func:`truth_weights`).
    """
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    if noise is not None and np.any(np.asarray(noise, dtype=np.float64) > 0):
        return _noisy_allow_threshold(s, y, k, target_recall, _as_weights(weights, len(s)), np.asarray(noise, dtype=np.float64))
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ThresholdsError("the calibration data has no unsafe messages")
    if weights is None:
        needed = math.ceil(target_recall * n_pos - 1e-9) - int((y & k).sum())
        if needed <= 0:
            return 1.0
        uncaught = np.sort(s[y & ~k])[::-1]
        return float(uncaught[needed - 1])
    w = _as_weights(weights, len(s))
    needed_weight = target_recall * float(w[y].sum()) - float(w[y & k].sum())
    if needed_weight <= 1e-12 * max(1.0, float(w[y].sum())):
        return 1.0
    mask = y & ~k
    order = np.argsort(-s[mask], kind="stable")
    kept = np.cumsum(w[mask][order])
    at = int(np.searchsorted(kept, needed_weight * (1 - 1e-12), side="left"))
    return float(s[mask][order][min(at, len(order) - 1)])


def _noisy_allow_threshold(
    s: np.ndarray, y: np.ndarray, k: np.ndarray, target_recall: float, w: np.ndarray, noise: np.ndarray
) -> float:
    """:func:`allow_threshold_for_recall` on corrected counts: the highest threshold whose estimate
    reaches the target.

    The estimate is not monotone in the threshold (a row labelled safe takes a little away, an audit
    ``1 / audit_share`` times as much), but its expectation is: below the first threshold that reaches
    the target it only wanders, by chance, around values above it. (Requiring it never to fall short
    again chases that random walk down to the lowest scores.) No standard-error bound is taken off the
    estimate: on synthetic traffic (20,000 rows, 10% flips, the lowest-scored 40% represented by 5%
    audits, target 0.97) one standard error escalated 79% of the benign rows, where the point estimate
    reached true recall 0.855-0.987 (mean 0.94) over 12 draws; the learner's ``calibration_margin`` is
    the buffer.
    """
    wz = w * truth_weights(y, noise)
    total = float(wz.sum())
    if total <= 0:
        raise ThresholdsError("the calibration data has no unsafe messages (after the noise correction)")
    mask = ~k
    order = np.argsort(-s[mask], kind="stable")
    if float(wz[k].sum()) >= target_recall * total:
        return 1.0
    recall = (float(wz[k].sum()) + np.cumsum(wz[mask][order])) / total
    reached = np.nonzero(recall >= target_recall * (1 - 1e-12))[0]
    at = int(reached[0]) if len(reached) else len(order) - 1
    return float(s[mask][order][at])


def calibrate(
    scores: Sequence[float],
    labels: Sequence[bool],
    keyword_hits: Sequence[bool] | None = None,
    *,
    target_recall: float = 0.95,
    act_precision: float = 0.98,
    calibrated_on: str = "",
    policy_id: str | None = None,
    policy_version: str | None = None,
    weights: Sequence[float] | None = None,
    allow_below: float | None = None,
    applies_to: str = "",
    noise: Sequence[float] | None = None,
) -> Thresholds:
    """Thresholds for ``target_recall`` (see the module documentation).

    ``weights`` weight each message's part in recall and escalation (the act threshold's precision
    is counted unweighted); ``allow_below`` fixes the allow threshold instead of searching for it
    (the figures are then measured at it). ``noise``: each label's flip probability; recall and
    benign escalation are then the corrected estimates for the true classes.
    """
    if not 0.0 < target_recall <= 1.0:
        raise ThresholdsError("the target recall must be in (0, 1]")
    if not 0.0 < act_precision <= 1.0:
        raise ThresholdsError("the act precision must be in (0, 1]")
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    if int((~y).sum()) == 0:
        raise ThresholdsError("the calibration data has no safe messages")
    w = _as_weights(weights, len(s))
    if allow_below is None:
        allow_below = allow_threshold_for_recall(s, y, k, target_recall, weights, noise)
    act_above = 1.0
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    precision = hits / np.arange(1, len(s) + 1)
    ok = np.nonzero((precision >= act_precision) & (hits >= MIN_ACT_SUPPORT))[0]
    if len(ok):
        # The lowest score such that everything scored at least that high meets the precision.
        act_above = max(float(s[order[ok.max()]]), allow_below)
    escalated = k | (s >= allow_below)
    recall, benign = _shares(escalated, y, w, None if noise is None else truth_weights(y, noise))
    return Thresholds(
        # Rounded for the JSON file in the safe direction: never allow more, never act sooner.
        allow_below=math.floor(allow_below * 1e6) / 1e6,
        act_above=min(1.0, math.ceil(act_above * 1e6) / 1e6),
        target_recall=target_recall,
        act_precision=act_precision,
        recall=recall,
        benign_escalated_share=benign,
        n=len(s),
        n_unsafe=int(y.sum()),
        calibrated_on=calibrated_on,
        policy_id=policy_id,
        policy_version=policy_version,
        sweep=sweep(s, y, k, points=101, extra=(allow_below,), weights=weights, noise=noise),
        applies_to=applies_to,
    )
