"""The replay runner as a port: what ``/mod policy replay`` (``modbot.commands.handlers.policy_replay``) needs
to re-judge stored messages with a candidate policy. ``modbot.moderation.replay.replay`` implements it; the
composition root hands it in, so the command layer never imports the moderation layer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from modbot.domain import MessageEvent, Verdict
from modbot.domain.replay import ReplayDiff, ReplayItem

__all__ = ["Judging", "ReplayRunner"]

#: Judges one message (the pipeline's ``classify`` with a chosen policy): nothing stored, nothing acted on.
Judging = Callable[[MessageEvent], Awaitable[Verdict]]


class ReplayRunner(Protocol):
    """Judge every item with ``candidate`` (against its stored baseline) and diff; ``stop`` ends it early."""

    def __call__(
        self, items: Iterable[ReplayItem], candidate: Judging, *, stop: asyncio.Event | None = None
    ) -> Awaitable[ReplayDiff]: ...
