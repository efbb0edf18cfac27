"""Port of the prefilter's learning loop: each community's trained model versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from modbot.domain import ServerRef

__all__ = ["LearningStatus", "PrefilterLearning", "PrefilterVersion", "PrefilterVersions"]


@dataclass(frozen=True, slots=True)
class PrefilterVersion:
    """One trained prefilter of a community: its folder, its evaluation, whether it scores now."""

    community: str
    version: int
    path: str
    created_at: datetime
    active: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)


class PrefilterVersions(Protocol):
    """The versions of each community's prefilter (``prefilter_versions``, migration 0007)."""

    async def add_version(self, community: str, path: str, metrics: dict[str, Any], *, active: bool) -> PrefilterVersion:
        """Store the next version of ``community`` (activating it when ``active``: the others are deactivated)."""
        ...

    async def versions(self, community: str | None = None) -> list[PrefilterVersion]:
        """Versions, oldest first (every community's when None)."""
        ...

    async def activate(self, community: str, version: int | None) -> None:
        """Make ``version`` the active one (None: none, the shipped default scores)."""
        ...


@dataclass(frozen=True, slots=True)
class LearningStatus:
    """``/mod prefilter status``: a community's versions, the active one, and when it retrains next."""

    community: str
    versions: tuple[PrefilterVersion, ...]
    active: PrefilterVersion | None
    labels_since: int
    min_new_labels: int
    next_retrain_at: datetime | None = None


class PrefilterLearning(Protocol):
    """What the moderator commands need of the learning loop (``modbot.training.scheduler.Learner``)."""

    async def status_for(self, server: ServerRef) -> LearningStatus: ...

    async def rollback_for(self, server: ServerRef) -> tuple[str, PrefilterVersion | None]:
        """Roll the server's community back one version; (community, the version now active or None)."""
        ...
