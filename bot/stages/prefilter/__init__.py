"""The embedding prefilter: a cheap, high-recall risk score on every message.

Public surface (everything else in this package is internal):

* :func:`load_prefilter` / :class:`EmbeddingPrefilter` — the :class:`modbot.ports.Prefilter` stage, which
  also takes moderators' feedback (``add_feedback``, ``load_feedback``).
* :class:`OnnxEmbedder`, :class:`EmbedderConfig`, :func:`pull_embedding_model` — MiniLM on onnxruntime.
* :class:`MicroBatcher` — batching + cache of embedding requests.
* :class:`PrefilterModel` (the trained weights) and :class:`Thresholds`, :func:`calibrate`.

Training and evaluation (``modbot train-prefilter``, ``modbot eval``) live in :mod:`modbot.training`,
which builds on this package; nothing here imports it.
"""

from modbot.stages.prefilter.batcher import BatcherStats, MicroBatcher
from modbot.stages.prefilter.embedder import (
    EmbedderConfig,
    EmbeddingModelError,
    OnnxEmbedder,
    default_model_path,
    default_tokenizer_path,
    pull_embedding_model,
)
from modbot.stages.prefilter.model import ModelError, PrefilterModel
from modbot.stages.prefilter.scorer import (
    BatchingConfig,
    EmbeddingPrefilter,
    ScoreDetail,
    default_model_dir,
    load_prefilter,
)
from modbot.stages.prefilter.thresholds import SweepPoint, Thresholds, ThresholdsError, calibrate

__all__ = [
    "BatcherStats",
    "BatchingConfig",
    "EmbedderConfig",
    "EmbeddingModelError",
    "EmbeddingPrefilter",
    "MicroBatcher",
    "ModelError",
    "OnnxEmbedder",
    "PrefilterModel",
    "ScoreDetail",
    "SweepPoint",
    "Thresholds",
    "ThresholdsError",
    "calibrate",
    "default_model_dir",
    "default_model_path",
    "default_tokenizer_path",
    "load_prefilter",
    "pull_embedding_model",
]
