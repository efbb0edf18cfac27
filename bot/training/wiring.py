"""Wiring of the learning loop for the composition root (``modbot.app``): the community-aware prefilter
and the :class:`~modbot.training.scheduler.Learner` that retrains it, when ``[learning]`` is on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from modbot.config import AppSettings
from modbot.domain.policy import Policy
from modbot.policy_files import load_policy_dir
from modbot.ports import Prefilter
from modbot.ports.learning import PrefilterVersions
from modbot.ports.storage import ServerConfig, VerdictLog

if TYPE_CHECKING:  # the scheduler pulls in the prefilter's numerical stack: imported when learning is on
    from modbot.training.scheduler import Learner

__all__ = ["LearningStorage", "build_learner"]


class LearningStorage(Protocol):
    """The parts of the store the learner reads and writes."""

    @property
    def verdicts(self) -> VerdictLog: ...

    @property
    def servers(self) -> ServerConfig: ...

    @property
    def prefilter_versions(self) -> PrefilterVersions: ...


async def build_learner(
    settings: AppSettings, storage: LearningStorage, prefilter: Prefilter | None, extra_policies: Sequence[Policy]
) -> tuple[Prefilter | None, Learner | None]:
    """With ``[learning]`` on: the prefilter wrapped so communities get their learned models, and the learner."""
    from modbot.stages.prefilter import EmbeddingPrefilter

    enabled = settings.learning.enabled
    if enabled is None:
        enabled = settings.database_url.startswith(("sqlite", "postgresql")) and ":memory:" not in settings.database_url
    if not enabled or not isinstance(prefilter, EmbeddingPrefilter):
        return prefilter, None
    from modbot.stages.prefilter.learned import CommunityPrefilter
    from modbot.training.scheduler import Learner, subprocess_trainer

    wrapped = CommunityPrefilter(prefilter)
    policy = next(iter([*extra_policies, *load_policy_dir(settings.policy_dir)]), None)
    learner = Learner(
        verdicts=storage.verdicts,
        servers=storage.servers,
        versions=storage.prefilter_versions,
        prefilter=wrapped,
        settings=settings.learning,
        train=subprocess_trainer(
            settings.database_url,
            extra=("--target-recall", str(min(0.995, settings.learning.target_recall + settings.learning.calibration_margin))),
        ),
        policy=policy,
        default_community=settings.server_defaults.prefilter_community,
    )
    await learner.load_active()
    return wrapped, learner
