"""``/mod prefilter status | rollback | community <name>|none``: the server's learned prefilter."""

from __future__ import annotations

from dataclasses import dataclass

from modbot.domain.commands import Invoker, PrefilterCommunity, PrefilterRollback, PrefilterStatus, Reply
from modbot.ports import EffectiveSettings
from modbot.ports.learning import PrefilterLearning, PrefilterVersion

__all__ = ["PrefilterCommands"]

_OFF = "Prefilter learning is off ([learning] enabled = false, or no writable database)."


def _metrics(version: PrefilterVersion) -> str:
    candidate = version.metrics.get("candidate") or {}
    if not isinstance(candidate, dict):
        return "-"
    recall = candidate.get("recall")
    return (
        f"recall {recall:.3f}" if isinstance(recall, float) else "recall -"
    ) + f", escalated {candidate.get('escalated_share', '-')} on {candidate.get('n', '?')} held-back {candidate.get('slice', '')} labels"


@dataclass(frozen=True, slots=True)
class PrefilterCommands:
    """Show, roll back, and choose the community of, the server's prefilter."""

    learning: PrefilterLearning | None
    settings: EffectiveSettings

    def handlers(self) -> dict[type, object]:
        return {PrefilterStatus: self.status, PrefilterRollback: self.rollback, PrefilterCommunity: self.community}

    async def status(self, invoker: Invoker, command: PrefilterStatus) -> Reply:
        if self.learning is None:
            return Reply(False, "Prefilter", _OFF)
        s = await self.learning.status_for(invoker.server)
        lines = [
            f"v{v.version}{' (active)' if v.active else ''} {v.created_at:%Y-%m-%d %H:%M}: {_metrics(v)}"
            + ("" if v.metrics.get("accepted") else f" - kept aside: {v.metrics.get('decision', '')}")
            for v in s.versions[-10:]
        ]
        fields = (
            ("Community", s.community),
            ("Active", f"v{s.active.version}: {_metrics(s.active)}" if s.active else "the shipped default"),
            ("Labels since the last version", f"{s.labels_since} (retrains at {s.min_new_labels})"),
            ("Next retrain", f"{s.next_retrain_at:%Y-%m-%d %H:%M} UTC at the latest" if s.next_retrain_at else "once enough labels"),
        )
        return Reply(True, "Prefilter", "\n".join(lines) or "No versions yet.", fields=fields)

    async def rollback(self, invoker: Invoker, command: PrefilterRollback) -> Reply:
        if self.learning is None:
            return Reply(False, "Prefilter", _OFF)
        community, now = await self.learning.rollback_for(invoker.server)
        text = f"Community {community} now uses " + (f"v{now.version}." if now else "the shipped default.")
        return Reply(True, "Prefilter rolled back", text, ephemeral=False)

    async def community(self, invoker: Invoker, command: PrefilterCommunity) -> Reply:
        await self.settings.update(invoker.server, prefilter_community=command.community)
        text = (
            f"This server now shares the prefilter of community {command.community}."
            if command.community
            else "This server is a community of its own."
        )
        return Reply(True, "Prefilter community", text, ephemeral=False)
