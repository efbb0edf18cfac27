"""The prefilter's learning loop, the parts that do not schedule: labels to rows, the held-back slice,
the fast retraining config, evaluating a candidate against the current model and deciding.

``modbot train-prefilter --from-db`` (:mod:`modbot.cli.from_db`) and the scheduler
(:mod:`modbot.training.scheduler`) share these, so the slice the scheduler evaluates on is exactly the
one the trainer left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modbot.domain.policy import Policy
from modbot.domain.noisy_rate import error_rate
from modbot.domain.records import Label, LabelSource
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.scorer import EmbeddingPrefilter
from modbot.stages.prefilter.thresholds import MAX_NOISE, truth_weights
from modbot.training.calibration import routed_anyway
from modbot.training.config import TrainConfig
from modbot.training.data import LabelledRow

__all__ = [
    "Evaluation", "accept", "evaluate", "fast_config", "held_back", "label_noise", "label_noises", "review_shares",
    "routed_anyway", "rows_from_labels", "split_labels",
]  # fmt: skip

#: Below this many audited labels the held-back slice is drawn from all labels (and says so).
MIN_AUDITS_FOR_SLICE = 50
EVAL_SHARE = 0.2


def label_noise(label: Label) -> float:
    """How likely ``label`` is the flip of the truth: a reasoner's (or an audit's) ``1 - confidence``.

    Read as a flip rate that holds whatever the truth is (a calibrated reasoner's confidence; the
    mapping is the live estimate's, :func:`modbot.domain.noisy_rate.error_rate`), clamped to
    [0, :data:`~modbot.stages.prefilter.thresholds.MAX_NOISE`]. A moderator's review or
    report is the truth: 0.
    """
    if label.source not in (LabelSource.REASONER, LabelSource.AUDIT):
        return 0.0
    return min(MAX_NOISE, error_rate(label.confidence))


def review_shares(labels: Sequence[Label]) -> dict[float, tuple[float, float]]:
    """Per sampling weight (escalated labels weigh 1, each audit share its own 1 / share): (r, e), the
    share of the "violation" answers a moderator decided (reviewed cases, of all "violation" answers)
    and the mean flip rate of the reasoner's answers there."""
    reviewed: dict[float, int] = {}
    said: dict[float, int] = {}
    eps: dict[float, list[float]] = {}
    for label in labels:
        if label.source is LabelSource.REVIEW:
            reviewed[label.weight] = reviewed.get(label.weight, 0) + 1
        elif label.source in (LabelSource.REASONER, LabelSource.AUDIT):
            said[label.weight] = said.get(label.weight, 0) + int(label.unsafe)
            eps.setdefault(label.weight, []).append(label_noise(label))
    return {
        w: (n / (n + said.get(w, 0)), float(np.mean(eps[w])) if eps.get(w) else 0.0) for w, n in reviewed.items()
    }


def label_noises(labels: Sequence[Label]) -> list[float]:
    """Each label's flip rate as the truth correction must read it, moderators' reviews accounted for.

    The correction (:func:`~modbot.stages.prefilter.thresholds.truth_weights`) counts a label of flip
    rate e as (label − e) / (1 − 2e) truly unsafe messages, unbiased over any set of messages the flips
    do not choose. Reviews choose: moderators decide cases, which "violation" answers open, so a share
    r of a group's "violation" answers become certain while every "allow" answer stays. Read with plain
    e, the "allow" answers would still take e / (1 − 2e) each for false "violation" answers that are no
    longer there: with every audit case reviewed, the violations among allowed messages come out below
    zero and the threshold lets them through. What stays unbiased with reviews (r = 0: the plain
    correction): an unreviewed "violation" answer counts (1 − e) / (1 − 2e), an "allow" answer
    −e(1 − r) / (1 − 2e), an upheld case 1 / (1 − e) (it stands for the reasoner's misses of its kind
    too), an overturned one 0. The flip rates returned are the ones under which truth_weights gives
    those; r and e are per sampling weight (:func:`review_shares`). A report is certain (0).
    """
    shares = review_shares(labels)
    noises = []
    for label in labels:
        r, e = shares.get(label.weight, (0.0, 0.0))
        if label.source is LabelSource.REVIEW:
            noises.append(e / (1.0 + e) if label.unsafe and r > 0 else 0.0)
            continue
        own = label_noise(label)
        if own <= 0 or r <= 0 or label.unsafe:
            noises.append(own)
            continue
        taken = own * (1.0 - r) / (1.0 - 2.0 * own)
        noises.append(taken / (1.0 + 2.0 * taken))
    return noises


def rows_from_labels(labels: Sequence[Label], community_of: Callable[[str], str]) -> list[LabelledRow]:
    """Training rows: each label's server mapped to its community (``source``), its weight kept, its
    noise as the truth correction reads it (:func:`label_noises`) and, for the fitting filter, its own
    flip rate (:func:`label_noise`: a review is the truth and is never left out of fitting)."""
    noises = label_noises(labels)
    return [
        LabelledRow(
            text=label.text,
            unsafe=label.unsafe,
            category=label.category or ("unsafe" if label.unsafe else "none"),
            source=community_of(label.server.key),
            id=f"{label.server.key}:{label.source.value}:{i}",
            weight=label.weight,
            noise=noise,
            fit_noise=label_noise(label),
        )
        for i, (label, noise) in enumerate(zip(labels, noises))
    ]


def held_back(text: str, share: float = EVAL_SHARE) -> bool:
    """Whether a label of ``text`` is in the evaluation slice (a hash draw: the same text, the same side)."""
    digest = hashlib.sha256(("heldback:" + text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split_labels(labels: Sequence[Label], eval_on: str | None = None) -> tuple[list[Label], list[Label], str]:
    """(train, evaluate, what the slice is: "traffic" or "all").

    The slice is every held-back label (a hash draw of the text). Its escalated share and recall are
    weighted by the labels' weights, so once there are audits (at least :data:`MIN_AUDITS_FOR_SLICE`)
    it stands for the traffic: the messages the prefilter sent on are all labelled (weight 1) and the
    allowed ones are represented by their audits (weight 1 / audit_share): "traffic". With fewer audits
    the allowed messages are barely represented and the slice is the labels as they are: "all". (The
    audited labels alone would be no slice to compare on: they are messages the current model allowed,
    so it escalates none of them by construction.) ``eval_on`` names the slice (the trainer is given it).
    """
    if eval_on is None:
        audits = sum(1 for label in labels if label.source is LabelSource.AUDIT)
        eval_on = "traffic" if audits >= MIN_AUDITS_FOR_SLICE else "all"
    train: list[Label] = []
    evaluate_on: list[Label] = []
    for label in labels:
        (evaluate_on if held_back(label.text) else train).append(label)
    return train, evaluate_on, eval_on


def fast_config(rows: int, *, target_recall: float = 0.95) -> TrainConfig:
    """What a single-community retrain uses: one MLP (no ensemble), no leave-one-dataset-out, 3 folds,
    and the fold models averaged as the served model (``final_fit = "folds"``: the thresholds then
    hold on new traffic as they held out of fold, where a refit on all rows scores on its own scale)."""
    return TrainConfig(
        target_recall=target_recall,
        folds=3,
        embed_ensemble=1,
        oof_ensemble=1,
        lodo=False,
        communities=False,
        final_fit="folds",
        name="learned",
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A model on the held-back slice, at its own calibrated allow threshold (weighted by label weight).

    ``recall`` is corrected for the labels' noise (:func:`label_noises`): the estimated share of the
    truly unsafe messages escalated; ``labelled_recall`` is the share of the labelled-unsafe ones (the
    same when no label is noisy). The escalated share needs no labels.
    """

    n: int
    unsafe: int
    recall: float | None
    escalated_share: float
    allow_below: float
    slice: str = "all"
    labelled_recall: float | None = None
    #: Audited labels among them (the evidence on what the model allowed).
    audits: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "unsafe": self.unsafe,
            "recall": self.recall,
            "labelled_recall": self.labelled_recall,
            "escalated_share": round(self.escalated_share, 4),
            "allow_below": self.allow_below,
            "slice": self.slice,
            "audits": self.audits,
        }


async def evaluate(
    prefilter: EmbeddingPrefilter,
    labels: Sequence[Label],
    *,
    community: str | None = None,
    policy: Policy | None = None,
    slice_name: str = "all",
    floor: Callable[[str], object] | None = None,
    routed: np.ndarray | None = None,
) -> Evaluation:
    """Score ``labels`` with ``prefilter`` and measure recall and escalation at its thresholds.

    A message counts as escalated when the Judge would not allow it: the score is at or above the
    allow threshold, or ``routed`` (:func:`routed_anyway`, one flag per label) says the other stages
    send it on. ``floor`` (async, folded text -> bool): the recall floor a learned model runs with; a
    message it holds back counts as escalated too.
    """
    thresholds = prefilter.thresholds_for(community)
    y = np.array([label.unsafe for label in labels], dtype=bool)
    w = np.array([label.weight for label in labels], dtype=float)
    escalated = np.zeros(len(labels), dtype=bool) if routed is None else np.array(routed, dtype=bool)
    for i, label in enumerate(labels):
        folded = normalize(label.text).folded
        detail = await prefilter.score_text(folded, policy=policy, community=community)
        escalated[i] = escalated[i] or detail.score >= thresholds.allow_below
        if not escalated[i] and floor is not None:
            escalated[i] = bool(await floor(folded))  # type: ignore[misc]
    return Evaluation(
        n=len(labels),
        unsafe=int(y.sum()),
        recall=corrected_recall(escalated, y, w, label_noises(labels)),
        escalated_share=float(w[escalated].sum() / w.sum()) if len(w) else 0.0,
        allow_below=thresholds.allow_below,
        slice=slice_name,
        labelled_recall=corrected_recall(escalated, y, w, None),
        audits=sum(1 for label in labels if label.source is LabelSource.AUDIT),
    )


def corrected_recall(escalated: np.ndarray, y: np.ndarray, w: np.ndarray, noise: Sequence[float] | None) -> float | None:
    """The weighted share of the truly unsafe messages escalated, estimated from noisy labels (None: none unsafe)."""
    wz = w * truth_weights(y, noise)
    if float(w[y].sum()) <= 0 or float(wz.sum()) <= 0:
        return None
    return min(1.0, max(0.0, float(wz[escalated].sum() / wz.sum())))


def accept(
    candidate: Evaluation,
    current: Evaluation,
    target_recall: float,
    *,
    min_unsafe: int = 0,
    live: Evaluation | None = None,
) -> tuple[bool, str]:
    """Switch to the candidate only if it keeps the target recall and escalates less than the current
    model, or (recall first) keeps the target where the model in use has fallen below it.

    ``min_unsafe``: the held-back slice must hold at least this many messages labelled unsafe, or
    its recall estimate is too loose to switch on (``[learning] min_slice_unsafe``). The model in use
    has fallen below the target when its recall on the slice is, or on ``live``: every label since
    it became active (none of them trained it; the allowed messages are seen through their audits, so
    at least :data:`MIN_AUDITS_FOR_SLICE` are needed; the slice holds a fifth of them). A candidate
    that keeps the target then replaces it even if it escalates more.
    """
    if candidate.recall is None:
        return False, "the held-back slice has no unsafe messages"
    if candidate.unsafe < min_unsafe:
        return False, f"the held-back slice has {candidate.unsafe} unsafe labels; at least {min_unsafe} are needed to judge recall"
    if candidate.recall < target_recall:
        return False, f"recall {candidate.recall:.3f} is below the target {target_recall:.2f}"
    if candidate.escalated_share >= current.escalated_share:
        if current.recall is not None and current.recall < target_recall:
            return True, (
                f"recall {candidate.recall:.3f} >= {target_recall:.2f} where the model in use has {current.recall:.3f} "
                f"on the slice; escalates {candidate.escalated_share:.3f} against {current.escalated_share:.3f}"
            )
        if live is not None and live.recall is not None and live.recall < target_recall and live.audits >= MIN_AUDITS_FOR_SLICE:
            return True, (
                f"recall {candidate.recall:.3f} >= {target_recall:.2f} where the model in use has fallen to "
                f"{live.recall:.3f} on the {live.n} labels since it became active ({live.audits} audits); "
                f"escalates {candidate.escalated_share:.3f} against {current.escalated_share:.3f}"
            )
        return False, (
            f"escalates {candidate.escalated_share:.3f}, not less than the current model's {current.escalated_share:.3f}"
        )
    return True, (
        f"recall {candidate.recall:.3f} >= {target_recall:.2f}, escalates {candidate.escalated_share:.3f} "
        f"< {current.escalated_share:.3f}"
    )


def community_map(overrides: Mapping[str, str | None], default: str | None = None) -> Callable[[str], str]:
    """server key -> its community: its ``prefilter_community`` override, else the default setting, else the key."""
    return lambda key: overrides.get(key) or default or key


def model_folder(root: Path, community: str, version: int) -> Path:
    """Where a community's version lives: ``root/<community>/<version>/`` (the name made path-safe)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in community) or "_"
    return root / safe / str(version)
