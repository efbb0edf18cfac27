"""``/mod stats | forget``: a server's moderation figures, and erasing a member's stored content.

Besides the verdict log's figures, ``/mod stats`` shows the live ones: the backlog and when it should
drain, the audits, and the prefilter's recall estimated from them (for the server and its community).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modbot.domain import ServerRef, utcnow
from modbot.domain.commands import Forget, Invoker, Reply, Stats
from modbot.domain.figures import AuditFigures, Backlog, RecallEstimate
from modbot.ports import LiveFigures, MessageLog, VerdictLog

__all__ = ["StatsCommands", "describe_audits", "describe_drain"]

RECALL_FIELD = "Prefilter recall (live estimate)"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def describe_drain(backlog: Backlog) -> str:
    """When the pending messages should be judged, at the rate of the last minutes."""
    window = f"{backlog.rate_window_s / 60:.0f} min"
    drain = backlog.drain_s
    if backlog.pending_messages == 0:
        return "nothing pending"
    if drain is None or backlog.judged_per_minute is None:
        return f"unknown (nothing judged in the last {window})"
    return f"{_duration(drain)} at {backlog.judged_per_minute:.1f} messages/min (last {window})"


def describe_audits(figures: AuditFigures, estimate: RecallEstimate, days: int) -> str:
    """Audits stored in the period, and what this process did since it started."""
    if not figures.enabled:
        return f"off: {figures.reason}"
    counts = estimate.counts
    return (
        f"{counts.audited} in {days} days ({counts.audit_violations} found a violation), "
        f"{figures.share:.1%} of prefilter allows; since start: {figures.done} done, "
        f"{figures.dropped} dropped (queue full or reasoner busy), {figures.queued} waiting"
    )


@dataclass(frozen=True, slots=True)
class StatsCommands:
    """Figures from the verdict log and the live figures; erasure through the message log."""

    verdicts: VerdictLog
    messages: MessageLog
    figures: LiveFigures | None = None

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {Stats: self.stats, Forget: self.forget}

    async def stats(self, invoker: Invoker, command: Stats) -> Reply:
        """Messages seen, escalations, actions, reviews and latency over the last days; backlog, audits, recall."""
        since = utcnow() - timedelta(days=command.days)
        stats = await self.verdicts.stats(invoker.server, since, command.days)
        median = f"{stats.median_latency_ms:.1f} ms" if stats.median_latency_ms is not None else "-"
        decisions = ", ".join(f"{k}: {v}" for k, v in sorted(stats.decisions.items())) or "-"
        fields = [
            ("Messages seen", str(stats.messages_seen)),
            ("Escalated", str(stats.escalated)),
            ("Acted", str(stats.acted)),
            ("Overturned", str(stats.overturned)),
            ("Upheld", str(stats.upheld)),
            ("Open cases", str(stats.open_cases)),
            ("Reported misses", str(stats.reported)),
            ("Median latency", median),
            ("Decisions", decisions),
        ]
        if self.figures is not None:
            fields += await self._live(self.figures, invoker.server, command.days, since)
        return Reply(True, f"Last {command.days} days", fields=tuple(fields))

    async def _live(self, figures: LiveFigures, server: ServerRef, days: int, since: datetime) -> list[tuple[str, str]]:
        backlog = await figures.backlog(server)
        audits = await figures.audit_figures(server)
        estimate = await figures.recall(server, since)
        # Audits stored earlier still count when they are off now; with none at all, say why.
        recall = estimate.describe() if audits.enabled or estimate.audits else f"unknown (audits off: {audits.reason})"
        fields = [
            ("Backlog", f"{backlog.pending_messages} messages pending, {backlog.unsettled_actions} actions unsettled"),
            ("Drains in", describe_drain(backlog)),
            ("Audits", describe_audits(audits, estimate, days)),
            (RECALL_FIELD, recall),
        ]
        community = await figures.community_of(server)
        if community != server.key:
            shared = await figures.recall(server, since, community=True)
            fields.append((f"{RECALL_FIELD}, community {community}", shared.describe()))
        return fields

    async def forget(self, invoker: Invoker, command: Forget) -> Reply:
        """Erase a member's texts in this server; decisions and case statuses stay for the statistics."""
        erased = await self.messages.forget_member(invoker.server, command.member_id)
        return Reply(True, f"Forgot {command.member_id}", f"Erased the stored content of {erased} messages.")
