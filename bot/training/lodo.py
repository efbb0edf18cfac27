"""Leave-one-dataset-out (LODO) values: how the model scores a source it has never seen.

A model's own out-of-fold scores describe data like its training data; a server whose community the
model has not learned sends something else. For every training source (the rows' ``source``) that
qualifies, the parts are fitted again on the *other* sources and the held-out source is scored the
way an unknown server is scored: with the shared n-gram part only (no community correction), the
embedding head and the neighbour memory built without it. :mod:`modbot.training.calibration` turns
these values into the ``unknown`` thresholds.

Cost: one n-gram fit, one head fit and one memory per held-out source. The head in these folds is
the model's kind of head (so its logits have the scale the blend weights expect) but with
``lodo_ensemble`` networks (default 1) instead of ``embed_ensemble``. The vocabulary is the final
model's (fitted on all rows, held-out source included): its n-grams get weights only from the other
sources, which is what the shipped model does with them too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import csr_matrix

from modbot.stages.prefilter.embedder import EMBEDDING_DIM
from modbot.training.config import TrainConfig
from modbot.training.data import LabelledRow
from modbot.training.parts import fit_embedding_head, fit_ngram

__all__ = ["HeldOut", "held_out_values", "lodo_sources"]

#: ``progress(stage, done, total)``, as in :mod:`modbot.training.train`.
Progress = Callable[[str, int, int], None]
#: Builds the neighbour memory of some rows: (folded texts, mean vectors, labels) -> rates of queries.
MemoryRates = Callable[[list[str], np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Part values of every held-out row from parts fitted without its source."""

    #: Per row: index into ``names`` of its held-out source, -1 when its source was not held out.
    source_index: np.ndarray
    names: list[str]
    ngram_logit: np.ndarray
    head_logit: np.ndarray
    memory_rate: np.ndarray
    #: Seconds spent per part, summed over the held-out sources.
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        return self.source_index >= 0


def lodo_sources(rows: Sequence[LabelledRow], config: TrainConfig) -> list[str]:
    """The sources held out one at a time (empty: no LODO calibration).

    A source qualifies with at least ``lodo_min_rows`` rows; LODO needs two qualifying sources, at
    least one of them with unsafe rows, and the rest of the data must still hold both labels.
    ``config.lodo`` False turns it off.
    """
    if config.lodo is False:
        return []
    totals = Counter(r.source for r in rows)
    unsafe = Counter(r.source for r in rows if r.unsafe)
    all_unsafe, n = sum(unsafe.values()), len(rows)
    names = sorted(
        s
        for s, count in totals.items()
        if s
        and count >= config.lodo_min_rows
        # the other sources must still train a model
        and all_unsafe - unsafe[s] >= config.folds
        and (n - count) - (all_unsafe - unsafe[s]) >= config.folds
    )
    if len(names) < 2 or not any(unsafe[s] for s in names):
        return []
    return names


def held_out_values(
    rows: Sequence[LabelledRow],
    y: np.ndarray,
    *,
    design: csr_matrix,
    ngrams: csr_matrix,
    pooled: np.ndarray | None,
    memory_rates: MemoryRates | None,
    folded: list[str],
    config: TrainConfig,
    say: Progress,
) -> HeldOut | None:
    """Fit the parts once per held-out source and score that source; None when LODO does not apply."""
    names = lodo_sources(rows, config)
    if not names:
        return None
    index = {name: i for i, name in enumerate(names)}
    source_index = np.fromiter((index.get(r.source, -1) for r in rows), dtype=np.int32, count=len(rows))
    n = len(rows)
    ngram_logit, head_logit, memory_rate = np.zeros(n), np.zeros(n), np.zeros(n)
    seconds = {"ngram": 0.0, "head": 0.0, "memory": 0.0}
    size = ngrams.shape[1]
    head_config = replace(config, embed_ensemble=max(1, config.lodo_ensemble))
    vectors = pooled[:, :EMBEDDING_DIM] if pooled is not None else None
    for i, name in enumerate(names):
        say("leave-one-dataset-out", i, len(names))
        test = np.flatnonzero(source_index == i)
        train = np.flatnonzero(source_index != i)
        started = time.perf_counter()
        fold_ngram = fit_ngram(design[train], y[train], config.ngram_c)
        # Scored as a server of an unknown community: the shared part alone.
        ngram_logit[test] = ngrams[test] @ fold_ngram.coef_[0][:size] + fold_ngram.intercept_[0]
        seconds["ngram"] += time.perf_counter() - started
        if pooled is not None:
            started = time.perf_counter()
            head = fit_embedding_head(pooled[train], y[train], head_config)
            head_logit[test] = head.logits(pooled[test])
            seconds["head"] += time.perf_counter() - started
        if memory_rates is not None and vectors is not None:
            started = time.perf_counter()
            memory_rate[test] = memory_rates([folded[j] for j in train], vectors[train], y[train], vectors[test])
            seconds["memory"] += time.perf_counter() - started
    say("leave-one-dataset-out", len(names), len(names))
    return HeldOut(source_index, names, ngram_logit, head_logit, memory_rate, {k: round(v, 1) for k, v in seconds.items()})
