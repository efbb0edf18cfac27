"""Retention: each server's message content is purged ``retention_days`` after it was received.

Texts, the stored context and the model's reasoning go; what the bot decided (verdicts' decisions,
rules, stages, timings) and the cases' statuses stay, so statistics and the audit trail remain true.
A purge runs at start-up and then every ``interval_s``; it is cheap when there is nothing to purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from modbot.domain import utcnow
from modbot.ports import EffectiveSettings, MessageLog, ServerConfig

__all__ = ["RetentionSweeper"]

log = logging.getLogger(__name__)


class RetentionSweeper:
    """Purges old message content server by server, by each one's own ``retention_days``."""

    def __init__(self, messages: MessageLog, servers: ServerConfig, settings: EffectiveSettings, *, interval_s: float = 3600.0):
        self.messages = messages
        self.servers = servers
        self.settings = settings
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def purge_once(self) -> int:
        """One pass over every server; returns how many messages were purged."""
        purged = 0
        now = utcnow()
        for server in await self.servers.list_servers():
            settings = await self.settings.get(server)
            count = await self.messages.purge_content(server, now - timedelta(days=settings.retention_days))
            if count:
                log.info("purged the content of %d messages of %s (older than %d days)", count, server, settings.retention_days)
            purged += count
        return purged

    def start(self) -> None:
        """Purge now and then every ``interval_s`` in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="modbot-retention")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.purge_once()
            except Exception:  # a failed purge is tried again next time; it must not stop the bot
                log.exception("purging old message content failed")
            await asyncio.sleep(self.interval_s)
