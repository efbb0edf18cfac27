"""A server's live figures (``modbot.ports.LiveFigures``): its backlog, its audits, and the prefilter's recall.

The recall estimate (``modbot.domain.figures.estimate_recall``) is per server, or per prefilter community:
every server whose ``prefilter_community`` is the same name (a server without one is a community of its
own, named by its key), since those servers share the prefilter's corrections and thresholds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from modbot.domain import MessageStatus, ServerRef, utcnow
from modbot.domain.figures import AuditFigures, Backlog, RecallEstimate, estimate_recall
from modbot.moderation.audits import Auditor
from modbot.ports import ActionOutbox, EffectiveSettings, MessageLog, ServerConfig, VerdictLog

__all__ = ["RATE_WINDOW_S", "LiveFiguresService"]

#: The judging rate behind the backlog's drain estimate is measured over the last five minutes.
RATE_WINDOW_S = 300.0


class LiveFiguresService:
    """Implements ``modbot.ports.LiveFigures`` over the storage ports and the pipeline's auditor."""

    def __init__(
        self,
        *,
        verdicts: VerdictLog,
        messages: MessageLog,
        outbox: ActionOutbox,
        servers: ServerConfig,
        settings: EffectiveSettings,
        audits: Auditor,
        rate_window_s: float = RATE_WINDOW_S,
    ):
        self.verdicts = verdicts
        self.messages = messages
        self.outbox = outbox
        self.servers = servers
        self.settings = settings
        self.audits = audits
        self.rate_window_s = rate_window_s

    async def backlog(self, server: ServerRef) -> Backlog:
        """Pending messages and unsettled actions of ``server``, and its judging rate of the last minutes."""
        pending = await self.messages.count_messages(MessageStatus.PENDING, server)
        unsettled = await self.outbox.count_unsettled(server)
        judged = await self.verdicts.judged_count(server, utcnow() - timedelta(seconds=self.rate_window_s))
        rate = judged / (self.rate_window_s / 60.0) if judged else None
        return Backlog(pending, unsettled, rate, self.rate_window_s)

    async def audit_figures(self, server: ServerRef) -> AuditFigures:
        return self.audits.figures(server, await self.settings.get(server))

    async def community_of(self, server: ServerRef) -> str:
        return (await self.settings.get(server)).prefilter_community or server.key

    async def members(self, community: str) -> list[ServerRef]:
        """The servers of one prefilter community."""
        return [server for server in await self.servers.list_servers() if await self.community_of(server) == community]

    async def recall(self, server: ServerRef, since: datetime, *, community: bool = False) -> RecallEstimate:
        if not community:
            return estimate_recall(await self.verdicts.recall_counts([server], since), server.key)
        name = await self.community_of(server)
        members = await self.members(name)
        if server not in members:  # not registered yet: it still counts for itself
            members.append(server)
        return estimate_recall(await self.verdicts.recall_counts(members, since), f"community {name}")
