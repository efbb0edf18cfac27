"""What ``train-prefilter`` takes and gives: its settings, its errors and its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modbot.stages.prefilter.ngrams import NgramSpec
from modbot.stages.prefilter.thresholds import Thresholds

__all__ = ["FINAL_FITS", "TrainConfig", "TrainError", "TrainReport"]

#: The values of :attr:`TrainConfig.final_fit`.
FINAL_FITS = ("refit", "folds")


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
    #: ``max_skip_cost`` and ``max_skip_loss`` (see :func:`modbot.training.skips.choose_skips`).
    skip_share: float | None = None
    max_skip_cost: float = 0.005
    max_skip_loss: float = 0.005
    #: Leave-one-dataset-out calibration of the ``unknown`` thresholds (for servers of a community the
    #: model has not learned): True, False, or None (when two or more sources qualify; see
    #: :func:`modbot.training.lodo.lodo_sources`).
    lodo: bool | None = None
    #: How the held-out sources are combined: worst, macro or pooled (:mod:`modbot.training.calibration`).
    lodo_combine: str = "worst"
    #: MLPs per held-out source's head (the final head averages ``embed_ensemble``).
    lodo_ensemble: int = 1
    #: Sources with fewer rows are never held out (their figures would be noise; they still train).
    lodo_min_rows: int = 200
    #: What the blend weights are fitted on: "oof" (out-of-fold values) or "lodo" (held-out sources).
    blend_on: str = "oof"
    #: MLPs per out-of-fold head (None: ``embed_ensemble``); fewer make training faster.
    oof_ensemble: int | None = None
    #: Calibration counts a message in a language outside the model's training languages as escalated
    #: whatever its score, as the Judge routes it (``unknown_language = "escalate"``, the default), the
    #: way it counts the policy's keyword hits; False: keyword hits only.
    count_language_routing: bool = True
    #: Where the served parts come from: "refit" (every part fitted once more on all rows) or "folds"
    #: (the out-of-fold models averaged: the thresholds were calibrated on exactly their scores, so
    #: they hold on new data as they held out of fold; a refit on more rows scores on its own scale).
    final_fit: str = "refit"
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
    #: For servers of a community the model has not learned (leave-one-dataset-out), when calibrated.
    unknown_thresholds: Thresholds | None = None
    #: Seconds per training step.
    timings: dict[str, float] = field(default_factory=dict)
