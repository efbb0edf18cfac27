"""``/mod stats | forget``: a server's moderation figures, and erasing a member's stored content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.domain import utcnow
from bot.domain.commands import Forget, Invoker, Reply, Stats
from bot.ports import MessageLog, VerdictLog

__all__ = ["StatsCommands"]


@dataclass(frozen=True, slots=True)
class StatsCommands:
    """Figures from the verdict log; erasure through the message log."""

    verdicts: VerdictLog
    messages: MessageLog

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {Stats: self.stats, Forget: self.forget}

    async def stats(self, invoker: Invoker, command: Stats) -> Reply:
        """Messages seen, escalations, actions, reviews and latency over the last days."""
        since = utcnow() - timedelta(days=command.days)
        stats = await self.verdicts.stats(invoker.server, since, command.days)
        median = f"{stats.median_latency_ms:.1f} ms" if stats.median_latency_ms is not None else "-"
        decisions = ", ".join(f"{k}: {v}" for k, v in sorted(stats.decisions.items())) or "-"
        return Reply(
            True,
            f"Last {command.days} days",
            fields=(
                ("Messages seen", str(stats.messages_seen)),
                ("Escalated", str(stats.escalated)),
                ("Acted", str(stats.acted)),
                ("Overturned", str(stats.overturned)),
                ("Upheld", str(stats.upheld)),
                ("Open cases", str(stats.open_cases)),
                ("Median latency", median),
                ("Decisions", decisions),
            ),
        )

    async def forget(self, invoker: Invoker, command: Forget) -> Reply:
        """Erase a member's texts in this server; decisions and case statuses stay for the statistics."""
        erased = await self.messages.forget_member(invoker.server, command.member_id)
        return Reply(True, f"Forgot {command.member_id}", f"Erased the stored content of {erased} messages.")
