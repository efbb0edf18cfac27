"""Routing thresholds calibrated to a target recall, and the recall-vs-escalation sweep behind them.

Three outcomes per message: score below ``allow_below`` (and no keyword hit) → allowed without the
reasoner; score at or above ``act_above`` → acted on at once; anything else → the reasoner.
``allow_below`` is the highest threshold that still keeps ``target_recall`` of the unsafe messages
away from "allow" (keyword hits count as kept); ``act_above`` is the lowest threshold whose messages
are unsafe with at least ``act_precision`` (1.0 = never act on the score alone).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["SweepPoint", "Thresholds", "ThresholdsError", "calibrate", "sweep"]

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


def sweep(
    scores: Sequence[float],
    labels: Sequence[bool],
    keyword_hits: Sequence[bool] | None = None,
    *,
    points: int = 201,
    extra: Sequence[float] = (),
) -> tuple[SweepPoint, ...]:
    """Recall and escalation for ``allow_below`` on an even grid over [0, 1] (plus ``extra`` values)."""
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, points), np.asarray(extra, dtype=np.float64)]))
    n_pos = max(1, int(y.sum()))
    n_neg = max(1, int((~y).sum()))
    out = []
    for t in grid:
        escalated = k | (s >= t)
        out.append(
            SweepPoint(
                threshold=round(float(t), 6),
                recall=float((escalated & y).sum() / n_pos),
                escalated_share=float(escalated.mean()) if len(s) else 0.0,
                benign_escalated_share=float((escalated & ~y).sum() / n_neg),
            )
        )
    return tuple(out)


def allow_threshold_for_recall(
    scores: Sequence[float], labels: Sequence[bool], keyword_hits: Sequence[bool] | None, target_recall: float
) -> float:
    """The highest ``allow_below`` that keeps ``target_recall`` of the unsafe messages from being allowed."""
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ThresholdsError("the calibration data has no unsafe messages")
    needed = math.ceil(target_recall * n_pos - 1e-9) - int((y & k).sum())
    if needed <= 0:
        return 1.0
    uncaught = np.sort(s[y & ~k])[::-1]
    return float(uncaught[needed - 1])


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
) -> Thresholds:
    """Thresholds for ``target_recall`` (see the module documentation)."""
    if not 0.0 < target_recall <= 1.0:
        raise ThresholdsError("the target recall must be in (0, 1]")
    if not 0.0 < act_precision <= 1.0:
        raise ThresholdsError("the act precision must be in (0, 1]")
    s, y, k = _as_arrays(scores, labels, keyword_hits)
    if int((~y).sum()) == 0:
        raise ThresholdsError("the calibration data has no safe messages")
    allow_below = allow_threshold_for_recall(s, y, k, target_recall)
    act_above = 1.0
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    precision = hits / np.arange(1, len(s) + 1)
    ok = np.nonzero((precision >= act_precision) & (hits >= MIN_ACT_SUPPORT))[0]
    if len(ok):
        # The lowest score such that everything scored at least that high meets the precision.
        act_above = max(float(s[order[ok.max()]]), allow_below)
    escalated = k | (s >= allow_below)
    return Thresholds(
        # Rounded for the JSON file in the safe direction: never allow more, never act sooner.
        allow_below=math.floor(allow_below * 1e6) / 1e6,
        act_above=min(1.0, math.ceil(act_above * 1e6) / 1e6),
        target_recall=target_recall,
        act_precision=act_precision,
        recall=float((escalated & y).sum() / max(1, int(y.sum()))),
        benign_escalated_share=float((escalated & ~y).sum() / max(1, int((~y).sum()))),
        n=len(s),
        n_unsafe=int(y.sum()),
        calibrated_on=calibrated_on,
        policy_id=policy_id,
        policy_version=policy_version,
        sweep=sweep(s, y, k, points=101, extra=(allow_below,)),
    )
