"""The embedding prefilter: a cheap, high-recall risk score on every message, and the tools to train and
measure it (``modbot train-prefilter``, ``modbot eval``).

Public surface (everything else in this package is internal):

* :func:`load_prefilter` / :class:`EmbeddingPrefilter` — the :class:`bot.ports.Prefilter` stage, which
  also takes moderators' feedback (``add_feedback``, ``load_feedback``).
* :class:`OnnxEmbedder`, :class:`EmbedderConfig`, :func:`pull_embedding_model` — MiniLM on onnxruntime.
* :class:`MicroBatcher` — batching + cache of embedding requests.
* :func:`train_prefilter`, :class:`TrainConfig` — training; :class:`Thresholds`, :func:`calibrate`.
* :func:`read_rows`, :func:`split_rows`, :class:`LabelledRow`, :class:`DataError` — labelled data files.
* :func:`evaluate_rows`, :func:`plot_sweep`, :class:`EvalReport` — evaluation.
"""

from bot.stages.prefilter.batcher import BatcherStats, MicroBatcher
from bot.training.data import DataError, LabelledRow, read_rows, read_rows_many, split_rows
from bot.stages.prefilter.embedder import (
    EmbedderConfig,
    EmbeddingModelError,
    OnnxEmbedder,
    default_model_path,
    default_tokenizer_path,
    pull_embedding_model,
)
from bot.stages.prefilter.model import ModelError, PrefilterModel
from bot.stages.prefilter.scorer import (
    BatchingConfig,
    EmbeddingPrefilter,
    ScoreDetail,
    default_model_dir,
    load_prefilter,
)
from bot.stages.prefilter.thresholds import SweepPoint, Thresholds, ThresholdsError, calibrate

__all__ = [
    "BatcherStats",
    "BatchingConfig",
    "DataError",
    "EmbedderConfig",
    "EmbeddingModelError",
    "EmbeddingPrefilter",
    "LabelledRow",
    "MicroBatcher",
    "ModelError",
    "OnnxEmbedder",
    "PrefilterModel",
    "ScoreDetail",
    "SweepPoint",
    "Thresholds",
    "ThresholdsError",
    "TrainConfig",
    "calibrate",
    "default_model_dir",
    "default_model_path",
    "default_tokenizer_path",
    "evaluate_rows",
    "load_prefilter",
    "plot_sweep",
    "pull_embedding_model",
    "read_rows",
    "read_rows_many",
    "split_rows",
    "train_prefilter",
]


def __getattr__(name: str):
    # Training and evaluation pull in scikit-learn, matplotlib and the Judge; the serving path does not
    # need them, so they load on first use.
    if name in ("train_prefilter", "TrainConfig", "TrainError", "TrainReport"):
        from bot.training import train

        return getattr(train, name)
    if name in ("evaluate_rows", "plot_sweep", "EvalReport"):
        from bot.training import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
