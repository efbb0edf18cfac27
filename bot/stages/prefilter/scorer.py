"""The prefilter stage: implements :class:`modbot.ports.Prefilter` with the trained model, MiniLM and examples.

Per message (the Judge passes the folded text):

1. n-gram logit (microseconds; the shared part plus the server's community correction, when its
   ``prefilter_community`` setting names one the model knows) and lexical similarity to the
   server's examples;
2. if no plausible embedding term (the range seen out of fold for messages with a similar n-gram
   logit, see :class:`.model.Blend`) can move the message into another routing region (allow /
   escalate / act, by this prefilter's calibrated thresholds), the embedding is skipped and a bound
   is returned: the upper bound below the allow threshold (never more lenient than the bound), the
   lower bound above it (never acts sooner). With the calibrated thresholds routing is then the
   same as with the embedding, except for the rare message whose embedding term lies outside that
   range; ``modbot eval --no-skip`` measures the difference (none on the held-out game chat);
3. otherwise the pooled MiniLM features (and the neighbour memory's unsafe rate, computed for the
   whole batch in the same worker thread) come from the micro-batcher (cache, batching), and the
   embedding-dependent terms and semantic similarity are added.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from cachetools import LRUCache

from modbot.domain import MessageEvent, ServerRef
from modbot.domain.policy import Policy
from modbot.domain.records import LabelledText
from modbot.ports import PrefilterScore
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.batcher import BatcherStats, MicroBatcher
from modbot.stages.prefilter.embedder import EMBEDDING_DIM, FEATURE_DIM, EmbedderConfig, OnnxEmbedder
from modbot.stages.prefilter.examples import ExampleMemory, ExampleSet, ensure_embedded, merge
from modbot.stages.prefilter.model import ModelError, PrefilterModel, logit, sigmoid
from modbot.stages.prefilter.model_files import load_model
from modbot.stages.prefilter.thresholds import Thresholds, ThresholdsError

__all__ = ["SHARED_THRESHOLDS_FILE", "BatchingConfig", "EmbeddingPrefilter", "ScoreDetail", "default_model_dir", "load_prefilter"]

#: Thresholds for servers that name no community of a model trained with communities.
SHARED_THRESHOLDS_FILE = "thresholds.shared.json"

log = logging.getLogger(__name__)

# Scores stay strictly inside (0, 1): an act threshold of 1.0 then means "never act on the score".
_SCORE_CEILING = 0.9999


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """Micro-batching of embeddings: up to ``max_batch`` texts or ``max_wait_ms``, whichever first."""

    #: Large batches cost little: the embedder runs each batch as groups of similar length.
    max_batch: int = 64
    max_wait_ms: float = 4.0
    cache_size: int = 8192


@dataclass(frozen=True, slots=True)
class ScoreDetail:
    """How one score came about (for ``eval``, benchmarks and the verdict's detail string)."""

    score: float
    ngram_logit: float
    embed_term: float | None
    similarity_adjustment: float
    #: "low" / "high" when the embedding was skipped (the score is then a conservative bound).
    skipped: str | None = None

    def describe(self) -> str:
        parts = [f"ngram={self.ngram_logit:+.2f}"]
        if self.skipped:
            parts.append("embed=skipped:" + self.skipped)
        elif self.embed_term is not None:
            parts.append(f"embed={self.embed_term:+.2f}")
        if self.similarity_adjustment:
            parts.append(f"examples={self.similarity_adjustment:+.2f}")
        return " ".join(parts)


class EmbeddingPrefilter:
    """Scores messages and learns from moderators' reviews: implements :class:`modbot.ports.Prefilter`."""

    def __init__(
        self,
        model: PrefilterModel,
        thresholds: Thresholds,
        *,
        embedder: OnnxEmbedder | None = None,
        batching: BatchingConfig = BatchingConfig(),
        name: str = "prefilter",
        skip_embeddings: bool = True,
        skip_share: float | None = None,
        shared_thresholds: Thresholds | None = None,
    ):
        if skip_share is not None and skip_share != model.blend.skip_share:
            model = replace(model, blend=model.blend.with_skip_share(skip_share))
        self.model = model
        #: Calibrated with each training row's own community: for servers of a known community.
        self.thresholds = thresholds
        #: Calibrated on the shared model's scores (models with communities only): for other servers.
        self.shared_thresholds = shared_thresholds
        self.name = name
        self.embedder = embedder if embedder is not None else (OnnxEmbedder() if model.uses_embeddings else None)
        self.batcher = (
            MicroBatcher(
                self._batch_features,
                max_batch=batching.max_batch,
                max_wait_ms=batching.max_wait_ms,
                cache_size=batching.cache_size,
            )
            if self.embedder is not None
            else None
        )
        self.examples = ExampleMemory(model.featurizer)
        self.skip_embeddings = skip_embeddings
        self._regions = self._region_logits(thresholds)
        self._shared_regions = self._region_logits(shared_thresholds) if shared_thresholds is not None else None
        self.skipped = 0
        self.scored = 0
        # Chat repeats itself: the n-gram row and logit of recent texts are kept too (cheap, but
        # building a row is most of the work for a message whose embedding is skipped).
        self._ngram_cache: LRUCache[str, tuple[tuple[np.ndarray, np.ndarray], float]] = LRUCache(
            maxsize=max(1, batching.cache_size)
        )
        self._unknown_communities: set[str] = set()

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def languages(self) -> frozenset[str]:
        """The languages the model was trained on (``model.json`` ``languages``)."""
        return frozenset(self.model.languages)

    def _uses_shared(self, community: str | None) -> bool:
        return self.shared_thresholds is not None and community not in self.model.community_names

    def thresholds_for(self, community: str | None) -> Thresholds:
        """The calibrated thresholds for a server of ``community`` (None or unknown: the shared model's)."""
        if self._uses_shared(community) and self.shared_thresholds is not None:
            return self.shared_thresholds
        return self.thresholds

    def _region_logits_for(self, community: str | None) -> tuple[float, float]:
        """:meth:`thresholds_for` as (allow, act) logits, computed once at construction."""
        if self._uses_shared(community) and self._shared_regions is not None:
            return self._shared_regions
        return self._regions

    @staticmethod
    def _region_logits(thresholds: Thresholds) -> tuple[float, float]:
        """(allow, act) thresholds as logits, the scale the skip rule compares bounds on."""
        allow = logit(thresholds.allow_below) if thresholds.allow_below > 0 else -math.inf
        act = logit(thresholds.act_above) if thresholds.act_above < 1.0 else math.inf
        return allow, act

    @property
    def batcher_stats(self) -> BatcherStats | None:
        return self.batcher.stats if self.batcher is not None else None

    def load(self) -> EmbeddingPrefilter:
        """Load the embedding model now (it loads lazily otherwise); raises if its files are unusable."""
        if self.embedder is not None:
            self.embedder.load()
        return self

    # --- the port ---------------------------------------------------------------------------

    async def score(
        self, policy: Policy, event: MessageEvent, normalized_text: str, *, community: str | None = None
    ) -> PrefilterScore:
        detail = await self.score_text(normalized_text, policy=policy, server=event.server, community=community)
        return PrefilterScore(score=detail.score, model=self.name, detail=detail.describe())

    async def score_text(
        self,
        folded_text: str,
        *,
        policy: Policy | None = None,
        server: ServerRef | None = None,
        community: str | None = None,
    ) -> ScoreDetail:
        """Score one already-folded text against the examples of ``policy`` and ``server``.

        ``community`` picks the model's correction for that community (see :mod:`.model`); one the
        model was not trained with scores with the shared part alone (logged once).
        """
        model = self.model
        self.scored += 1
        cached = self._ngram_cache.get(folded_text)
        if cached is None:
            row = model.featurizer.row(folded_text)
            cols, vals = row
            ngram = float(vals @ model.ngram_coef[cols]) + model.ngram_intercept if len(cols) else model.ngram_intercept
            self._ngram_cache[folded_text] = (row, ngram)
        else:
            row, ngram = cached
        if community is not None:
            if community in model.community_names:
                ngram += model.community_offset(community, *row)
            elif community not in self._unknown_communities:
                self._unknown_communities.add(community)
                log.warning(
                    "prefilter %s has no community %r (it knows: %s); scoring with the shared model",
                    self.name,
                    community,
                    ", ".join(model.community_names) or "none",
                )
        base = float(model.base_logits(np.array([ngram]))[0])
        sets = self._example_sets(policy, server)
        lexical = merge(s.similarity(row, None) for s in sets)
        adjust = model.similarity.adjustment(lexical.to_violation, lexical.to_benign)
        # The bands describe the embedding term of messages with this n-gram logit; the examples'
        # adjustment is added on top (it moves the score, not the n-gram content the bands know).
        lo, hi = model.bounds(base)
        lo, hi = lo + adjust, hi + adjust
        if self.batcher is None or not model.uses_embeddings:
            return ScoreDetail(self._clip(base + adjust), ngram, None, adjust)
        if self.skip_embeddings:
            # The embedding is skipped when every plausible embedding term leaves the message in the
            # same routing region (allow / escalate / act) of the thresholds this server inherits.
            allow_logit, act_logit = self._region_logits_for(community)
            if hi < allow_logit:
                self.skipped += 1
                return ScoreDetail(self._clip(hi), ngram, None, adjust, skipped="low")
            if lo >= act_logit:
                self.skipped += 1
                return ScoreDetail(self._clip(lo), ngram, None, adjust, skipped="high")
            if lo >= allow_logit and hi < act_logit:
                self.skipped += 1
                return ScoreDetail(self._clip(lo), ngram, None, adjust, skipped="mid")
        computed = await self.batcher.embed(folded_text)
        features = computed[:FEATURE_DIM]
        rates = computed[FEATURE_DIM:] if len(computed) > FEATURE_DIM else None
        embed_term = float(model.embed_terms(features[None, :], memory_rates=rates)[0])
        if sets:
            await ensure_embedded(sets, self._mean_embeddings)
            both = merge(s.similarity(row, features[:EMBEDDING_DIM]) for s in sets)
            adjust = model.similarity.adjustment(both.to_violation, both.to_benign)
        return ScoreDetail(self._clip(base + embed_term + adjust), ngram, embed_term, adjust)

    def _batch_features(self, texts: list[str]) -> np.ndarray:
        """Runs in the batcher's worker thread: pooled features, plus the neighbour rate column."""
        assert self.embedder is not None
        pooled = self.embedder.pooled(texts)
        if self.model.memory is None or self.model.blend.memory_weight == 0.0:
            return pooled
        rates = self.model.memory_rates(pooled).astype(np.float32)
        return np.concatenate([pooled, rates[:, None]], axis=1)

    @staticmethod
    def _clip(value: float) -> float:
        return float(min(_SCORE_CEILING, max(1.0 - _SCORE_CEILING, sigmoid(value))))

    async def _mean_embeddings(self, texts: list[str]) -> np.ndarray:
        assert self.batcher is not None
        return (await self.batcher.embed_many(texts))[:, :EMBEDDING_DIM]

    def _example_sets(self, policy: Policy | None, server: ServerRef | None) -> list[ExampleSet]:
        sets: list[ExampleSet] = []
        if policy is not None and policy.meta.examples:
            sets.append(
                self.examples.for_policy(
                    policy.version, ((normalize(e.text).folded, e.violation) for e in policy.meta.examples)
                )
            )
        if server is not None:
            server_set = self.examples.for_server(server)
            if server_set is not None and len(server_set):
                sets.append(server_set)
        return sets

    # --- learning from the review queue -----------------------------------------------------

    async def add_feedback(self, server: ServerRef, text: str, violation: bool) -> None:
        """A moderator upheld (``violation=True``) or overturned (``False``) a verdict on ``text``."""
        folded = normalize(text).folded
        if folded.strip():
            self.examples.add(server, folded, violation)

    async def load_feedback(self, server: ServerRef, items: Iterable[LabelledText]) -> int:
        """Replay stored reviews (oldest first) for one server; returns how many were taken."""
        count = 0
        for item in items:
            await self.add_feedback(server, item.text, item.violation)
            count += 1
        return count

    async def aclose(self) -> None:
        """Stop the embedding batcher's worker."""
        if self.batcher is not None:
            await self.batcher.aclose()


def load_prefilter(
    directory: Path | None = None,
    *,
    embedder: EmbedderConfig | None = None,
    batching: BatchingConfig = BatchingConfig(),
    skip_share: float | None = None,
) -> EmbeddingPrefilter:
    """The prefilter stored in ``directory`` (``train-prefilter`` output), or the shipped default.

    ``skip_share`` picks other skip bands stored with the model (see ``TrainConfig.skip_share``).
    """
    folder = Path(directory) if directory is not None else default_model_dir()
    model = load_model(folder)
    thresholds_path = folder / "thresholds.json"
    if not thresholds_path.is_file():
        raise ModelError(f"{thresholds_path}: missing (train-prefilter writes it next to the model)")
    shared_path = folder / SHARED_THRESHOLDS_FILE
    try:
        thresholds = Thresholds.load(thresholds_path)
        shared = Thresholds.load(shared_path) if model.community_names and shared_path.is_file() else None
    except ThresholdsError as exc:
        raise ModelError(str(exc)) from None
    config = embedder or EmbedderConfig()
    if config.tokenizer_path is None and (folder / "tokenizer.json").is_file():
        config = EmbedderConfig(
            model_path=config.model_path,
            tokenizer_path=folder / "tokenizer.json",
            max_tokens=config.max_tokens,
            intra_op_threads=config.intra_op_threads,
        )
    name = "prefilter:" + str(model.info.get("name") or folder.name)
    return EmbeddingPrefilter(
        model,
        thresholds,
        embedder=OnnxEmbedder(config) if model.uses_embeddings else None,
        batching=batching,
        name=name,
        skip_share=skip_share,
        shared_thresholds=shared,
    )


def default_model_dir() -> Path:
    """The model that ships with the package (see ``default/DATA_CARD.md``)."""
    return Path(__file__).resolve().parent / "default"
