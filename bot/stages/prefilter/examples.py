"""A server's own labelled examples: its policy's ``[[examples]]`` and its moderators' reviews.

A message that looks like a violation a moderator upheld scores higher; one that looks like a
message a moderator overturned scores lower (see :class:`.model.SimilarityParams`). Similarity is
the higher of two cosines: lexical (the n-gram TF-IDF rows the classifier already computes, so it is
known before the embedding and near-copies of spam are caught even when the embedding is skipped)
and semantic (MiniLM mean embeddings, for messages that are embedded anyway).

The memory lives in the process; the core keeps reviews in its store and replays them at start-up
through ``EmbeddingPrefilter.load_feedback``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache
from scipy.sparse import csc_matrix

from modbot.domain import ServerRef
from modbot.stages.prefilter.ngrams import NgramFeaturizer

__all__ = ["ExampleMemory", "ExampleSet", "Similarity", "ensure_embedded", "merge"]

#: Reviews kept per server (the newest win); older ones are forgotten first.
MAX_FEEDBACK_PER_SERVER = 5000
#: Policies whose examples are kept prepared (one per policy version in use).
MAX_POLICIES = 32
#: Example sets up to this many (examples x n-grams used) cells are kept as a dense matrix.
_DENSE_LIMIT = 4_000_000


@dataclass(frozen=True, slots=True)
class Similarity:
    """Highest similarity of one message to the violating and to the benign examples."""

    to_violation: float = 0.0
    to_benign: float = 0.0


class ExampleSet:
    """Labelled texts (already folded) with their n-gram rows and, once computed, embeddings."""

    def __init__(self, featurizer: NgramFeaturizer, limit: int | None = None):
        self._featurizer = featurizer
        self._limit = limit
        # Insertion order is recency (add moves a relabelled text last), so the oldest go first past the limit.
        self._items: OrderedDict[str, bool] = OrderedDict()
        self._matrix: csc_matrix | None = None
        self._labels: np.ndarray | None = None
        self._texts: list[str] = []
        self._embeddings: dict[str, np.ndarray] = {}
        self._slot = np.zeros(0, dtype=np.int32)
        self._dense: np.ndarray | None = None
        self._stacked: np.ndarray | None = None
        self.lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, text: str, violation: bool) -> None:
        """Add or relabel one example (the latest label of a text wins)."""
        self._items[text] = bool(violation)
        self._items.move_to_end(text)
        if self._limit is not None:
            while len(self._items) > self._limit:
                old, _ = self._items.popitem(last=False)
                self._embeddings.pop(old, None)
        self._matrix = None

    def _prepare(self) -> None:
        if self._matrix is None:
            self._texts = list(self._items)
            self._labels = np.fromiter(self._items.values(), dtype=bool, count=len(self._items))
            rows = self._featurizer.transform(self._texts)
            matrix = rows.tocsc()
            # The n-grams the examples use, as a small dense matrix: a message's similarity is then
            # one gather and one mat-vec over its own n-grams (most chat shares none with them).
            # (Column numbers come from the CSR rows: a CSC matrix's ``indices`` are row numbers.)
            used = np.unique(rows.indices)
            self._slot = np.full(self._featurizer.size, -1, dtype=np.int32)
            self._slot[used] = np.arange(len(used), dtype=np.int32)
            if len(self._texts) * len(used) <= _DENSE_LIMIT:
                self._dense = matrix[:, used].toarray().astype(np.float32)
            else:
                self._dense = None
            self._matrix = matrix
            self._stacked = None

    def _semantic(self, embedding: np.ndarray) -> np.ndarray:
        if self._stacked is None or len(self._stacked) != len(self._texts):
            if any(t not in self._embeddings for t in self._texts):
                return np.array(
                    [float(self._embeddings[t] @ embedding) if t in self._embeddings else 0.0 for t in self._texts]
                )
            self._stacked = np.stack([self._embeddings[t] for t in self._texts])
        return self._stacked @ embedding

    def missing_embeddings(self) -> list[str]:
        return [t for t in self._items if t not in self._embeddings]

    def set_embeddings(self, texts: list[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors):
            if text in self._items:
                self._embeddings[text] = vector
        self._stacked = None

    def similarity(self, row: tuple[np.ndarray, np.ndarray], embedding: np.ndarray | None) -> Similarity:
        if not self._items:
            return Similarity()
        self._prepare()
        assert self._matrix is not None and self._labels is not None
        cols, vals = row
        slots = self._slot[cols] if len(cols) else np.zeros(0, dtype=np.int32)
        shared = slots >= 0
        if not shared.any():
            sims = np.zeros(len(self._texts))
        elif self._dense is not None:
            sims = self._dense[:, slots[shared]] @ vals[shared]
        else:
            sims = np.asarray(self._matrix[:, cols[shared]] @ vals[shared]).ravel()
        if embedding is not None:
            sims = np.maximum(sims, self._semantic(embedding))
        violating = sims[self._labels]
        benign = sims[~self._labels]
        return Similarity(
            to_violation=float(violating.max()) if len(violating) else 0.0,
            to_benign=float(benign.max()) if len(benign) else 0.0,
        )


class ExampleMemory:
    """Example sets per policy version and per server."""

    def __init__(self, featurizer: NgramFeaturizer, *, max_per_server: int = MAX_FEEDBACK_PER_SERVER):
        self._featurizer = featurizer
        self._max_per_server = max_per_server
        self._policies: LRUCache[str, ExampleSet] = LRUCache(maxsize=MAX_POLICIES)
        self._servers: dict[ServerRef, ExampleSet] = {}

    def for_policy(self, version: str, examples: Iterable[tuple[str, bool]]) -> ExampleSet:
        """The prepared examples of one policy version (built on first use)."""
        found = self._policies.get(version)
        if found is None:
            found = ExampleSet(self._featurizer)
            for text, violation in examples:
                found.add(text, violation)
            self._policies[version] = found
        return found

    def for_server(self, server: ServerRef) -> ExampleSet | None:
        """The moderators' decisions learned for ``server`` (None before the first)."""
        return self._servers.get(server)

    def add(self, server: ServerRef, text: str, violation: bool) -> None:
        """Remember one decision (a folded text and whether it was a violation) for ``server``."""
        found = self._servers.get(server)
        if found is None:
            found = self._servers[server] = ExampleSet(self._featurizer, self._max_per_server)
        found.add(text, violation)

    def feedback_count(self, server: ServerRef) -> int:
        """How many decisions are remembered for ``server``."""
        found = self._servers.get(server)
        return len(found) if found is not None else 0


async def ensure_embedded(sets: Iterable[ExampleSet], embed: Callable[[list[str]], Awaitable[np.ndarray]]) -> None:
    """Compute the missing embeddings of ``sets`` with ``embed`` (texts -> mean embeddings)."""
    for example_set in sets:
        if not example_set.missing_embeddings():
            continue
        # One caller computes; concurrent scorers of the same server wait for it instead of asking too.
        async with example_set.lock:
            missing = example_set.missing_embeddings()
            if missing:
                example_set.set_embeddings(missing, await embed(missing))


def merge(similarities: Iterable[Similarity]) -> Similarity:
    best_v = 0.0
    best_b = 0.0
    for s in similarities:
        best_v = max(best_v, s.to_violation)
        best_b = max(best_b, s.to_benign)
    return Similarity(best_v, best_b)
