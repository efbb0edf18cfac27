"""The last steps of training: the served parts put together into a model, and the model folder written.

Which thresholds go to which file. Format 2 (with communities): ``thresholds.json`` for the learned
communities, ``thresholds.shared.json`` for every other server (the leave-one-dataset-out thresholds
when calibrated). Format 1: ``thresholds.json`` is what every server gets, so it holds the LODO
thresholds when they were calibrated (the in-distribution ones are recorded inside, under
``in_distribution``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modbot.stages.prefilter.model import Blend, PrefilterModel, SimilarityParams
from modbot.stages.prefilter.model_files import save_model
from modbot.stages.prefilter.ngrams import NgramFeaturizer
from modbot.stages.prefilter.parts import CommunityWeights, EmbeddingHead, NeighbourMemory
from modbot.stages.prefilter.scorer import SHARED_THRESHOLDS_FILE
from modbot.stages.prefilter.thresholds import Thresholds
from modbot.training.card import model_card
from modbot.training.data import LabelledRow

__all__ = ["FinalParts", "assemble_model", "write_model"]


@dataclass(frozen=True, slots=True)
class FinalParts:
    """The served parts: the n-gram weights (``[shared | one block per community | one bias per
    community]``), the embedding head and the neighbour memory."""

    ngram_coef: np.ndarray
    ngram_intercept: float
    head: EmbeddingHead | None
    memory: NeighbourMemory | None


def assemble_model(
    featurizer: NgramFeaturizer, community_names: Sequence[str], parts: FinalParts, blend: Blend, info: dict[str, object]
) -> PrefilterModel:
    """The model of these parts (the community blocks of the n-gram weights split out)."""
    size = featurizer.size
    coef = parts.ngram_coef
    communities = None
    if community_names:
        n = len(community_names)
        communities = CommunityWeights(
            tuple(community_names),
            coef[size : size * (n + 1)].reshape(n, size).copy(),
            coef[size * (n + 1) :].copy(),
        )
    return PrefilterModel(
        featurizer=featurizer,
        ngram_coef=coef[:size].copy(),
        ngram_intercept=parts.ngram_intercept,
        head=parts.head,
        blend=blend,
        similarity=SimilarityParams(),
        info=info,
        communities=communities,
        memory=parts.memory,
    )


def write_model(
    out: Path,
    model: PrefilterModel,
    rows: Sequence[LabelledRow],
    *,
    thresholds: Thresholds,
    shared_thresholds: Thresholds | None,
    unknown: Thresholds | None,
) -> None:
    """Write the folder (see the module documentation for which thresholds go where)."""
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    served, shared = thresholds, shared_thresholds
    if unknown is not None:
        if model.community_names:
            shared = unknown
        else:
            served = unknown
    served.save(out / "thresholds.json")
    shared_path = out / SHARED_THRESHOLDS_FILE
    if shared is not None:
        shared.save(shared_path)
    elif shared_path.exists():
        shared_path.unlink()  # left by an earlier training into the same folder
    card = model_card(model, thresholds, rows, shared_thresholds, unknown)
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
