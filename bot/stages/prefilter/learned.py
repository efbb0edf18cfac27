"""Learned community models on top of the shipped default, with a recall floor for the gravest categories.

:class:`CommunityPrefilter` implements :class:`modbot.ports.Prefilter`. It keeps the shipped default (every
server whose community has no learned model gets it unchanged) and, per community, the active learned
model (``use_model(community, folder)``, ``drop_model``). A learned model's score is mapped onto the
default's scale, piecewise linearly, so that its calibrated allow threshold lands on the default's:
the judge then routes with the thresholds it already has (``thresholds_for`` is the default's, and a
server's own ``allow_below`` override keeps meaning the same thing), while each community routes at
its own model's calibrated threshold.

**Recall floor.** A model learned from one community's data scores low what that data never shows,
and a community of game chat has no self-harm rows. So a message the learned model would allow is
escalated anyway when (1) the default, which is already loaded, would escalate it (its score is at or
above its own allow threshold), and (2) its MiniLM embedding is within ``floor_similarity`` (cosine)
of one of the policy's own violating examples of a rule whose severity is ``support`` or ``critical``
(self-harm, threats, doxxing, scams in the shipped policy) or of the hand-written lines of those
categories in :mod:`.floor_phrases` (a policy carries only two or three examples per category). The check runs only for messages the
learned model would allow; the default's embedding of the text is cached by its batcher, so the
second look costs one embedding at most.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from modbot.domain import MessageEvent, ServerRef
from modbot.domain.policy import Policy
from modbot.domain.records import LabelledText
from modbot.ports.stages import PrefilterScore
from modbot.stages.normalize import normalize
from modbot.stages.prefilter.floor_phrases import FLOOR_PHRASES
from modbot.stages.prefilter.scorer import EmbeddingPrefilter, load_prefilter
from modbot.stages.prefilter.thresholds import Thresholds

__all__ = ["FLOOR_SEVERITIES", "CommunityPrefilter", "floor_examples", "map_score"]

log = logging.getLogger(__name__)

#: Severities whose categories keep the default's recall whatever a learned model says.
FLOOR_SEVERITIES = frozenset({"support", "critical"})
#: Cosine (MiniLM mean embeddings) to a floor example at or above which the floor applies.
DEFAULT_FLOOR_SIMILARITY = 0.55


def floor_examples(policy: Policy) -> list[str]:
    """The policy's violating examples of rules whose severity is in :data:`FLOOR_SEVERITIES`, plus
    :data:`FLOOR_PHRASES` when the policy has such rules (the policy names the grave categories)."""
    grave = {rule.id for cat in policy.meta.categories for rule in cat.rules if rule.severity in FLOOR_SEVERITIES}
    own = [e.text for e in policy.meta.examples if e.violation and grave.intersection(e.rule_ids)]
    return [*own, *FLOOR_PHRASES] if grave else own


def map_score(score: float, own: Thresholds, target: Thresholds) -> float:
    """``score`` on ``own``'s scale moved onto ``target``'s: allow threshold onto allow threshold (monotone)."""
    a, b = own.allow_below, target.allow_below
    if a <= 0.0 or a >= 1.0:
        return score
    if score < a:
        return score * b / a
    return b + (score - a) * (1.0 - b) / (1.0 - a)


class CommunityPrefilter:
    """The default prefilter plus one learned model per community (see the module documentation)."""

    def __init__(self, default: EmbeddingPrefilter, *, floor_similarity: float = DEFAULT_FLOOR_SIMILARITY):
        self.default = default
        self.floor_similarity = floor_similarity
        self.learned: dict[str, EmbeddingPrefilter] = {}
        self.folders: dict[str, Path] = {}
        self._floor_vectors: dict[str, np.ndarray] = {}
        self._retired: list[EmbeddingPrefilter] = []
        #: Messages the recall floor kept from being allowed.
        self.floored = 0

    # --- managing the learned models ----------------------------------------------------------

    def use_model(self, community: str, folder: Path | str, *, model: EmbeddingPrefilter | None = None) -> None:
        """Score ``community``'s servers with the model in ``folder`` (``model``: already loaded from it)."""
        model = model if model is not None else load_prefilter(Path(folder))
        old = self.learned.get(community)
        self.learned[community] = model
        self.folders[community] = Path(folder)
        if old is not None:
            self._retired.append(old)
        log.info("prefilter: community %s now uses %s", community, folder)

    def drop_model(self, community: str) -> None:
        """Back to the shipped default for ``community``."""
        old = self.learned.pop(community, None)
        self.folders.pop(community, None)
        if old is not None:
            self._retired.append(old)

    # --- the port -----------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.default.name

    @property
    def languages(self) -> frozenset[str]:
        return self.default.languages

    def thresholds_for(self, community: str | None) -> Thresholds:
        return self.default.thresholds_for(community)

    async def score(
        self, policy: Policy, event: MessageEvent, normalized_text: str, *, community: str | None = None
    ) -> PrefilterScore:
        key = community or event.server.key
        learned = self.learned.get(key)
        if learned is None:
            return await self.default.score(policy, event, normalized_text, community=community)
        # A model trained on one community alone has no community parts: its shared part is the community's.
        own = key if key in learned.model.community_names else None
        detail = await learned.score_text(normalized_text, policy=policy, server=event.server, community=own)
        target = self.default.thresholds_for(community)
        score = map_score(detail.score, learned.thresholds_for(own), target)
        text = detail.describe()
        if score < target.allow_below and await self.floor_hit(policy, normalized_text, community):
            self.floored += 1
            score, text = target.allow_below, text + " floor=default"
        return PrefilterScore(score=score, model=learned.name, detail=text)

    async def floor_hit(self, policy: Policy | None, folded: str, community: str | None = None) -> bool:
        """Whether the recall floor keeps ``folded`` from being allowed (see the module documentation)."""
        if policy is None or self.default.batcher is None:
            return False
        vectors = await self._floor_for(policy)
        if vectors is None:
            return False
        default = await self.default.score_text(folded, policy=policy, community=community)
        if default.score < self.default.thresholds_for(community).allow_below:
            return False
        mean = (await self.default._mean_embeddings([folded]))[0]
        mean = mean / (np.linalg.norm(mean) or 1.0)
        return bool(float((vectors @ mean).max()) >= self.floor_similarity)

    async def _floor_for(self, policy: Policy) -> np.ndarray | None:
        if policy.version not in self._floor_vectors:
            texts = [normalize(t).folded for t in floor_examples(policy)]
            if not texts:
                self._floor_vectors[policy.version] = np.zeros((0, 0))
            else:
                vectors = np.asarray(await self.default._mean_embeddings(texts), dtype=np.float32)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                self._floor_vectors[policy.version] = vectors / np.where(norms == 0, 1.0, norms)
        vectors = self._floor_vectors[policy.version]
        return vectors if vectors.size else None

    async def add_feedback(self, server: ServerRef, text: str, violation: bool) -> None:
        await self.default.add_feedback(server, text, violation)
        for model in self.learned.values():
            await model.add_feedback(server, text, violation)

    async def load_feedback(self, server: ServerRef, items: Iterable[LabelledText]) -> int:
        items = list(items)
        for model in self.learned.values():
            await model.load_feedback(server, items)
        return await self.default.load_feedback(server, items)

    async def aclose(self) -> None:
        for model in [*self.learned.values(), *self._retired]:
            await model.aclose()
        self.learned.clear()
        self._retired.clear()
        await self.default.aclose()
