"""``/mod policy shadow <id> [7d] | off`` and ``/mod policy diff``: a candidate policy on live traffic.

The shadow policy is a server setting (``ServerSettings.shadow_policy``); the pipeline judges each
message with it after the live verdict (``modbot.moderation.shadow``) and stores that verdict as a
candidate, never acted on. ``diff`` compares the two over the shadow period, as ``modbot policy replay``
does for stored messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modbot.domain import utcnow
from modbot.domain.commands import Invoker, PolicyDiff, PolicyShadow, Reply
from modbot.domain.policy import parse_duration
from modbot.domain.replay import ReplayDiff, ReplayItem, ShadowPolicy
from modbot.ports import ActivePolicies, EffectiveSettings, PolicyLibrary, VerdictLog

__all__ = ["DIFF_LIMIT", "PolicyShadowCommands"]

#: The newest shadowed messages ``/mod policy diff`` compares.
DIFF_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class PolicyShadowCommands:
    """Start, stop and show a shadow policy; diff its verdicts against the live ones."""

    policies: ActivePolicies
    library: PolicyLibrary
    settings: EffectiveSettings
    verdicts: VerdictLog
    clock: Callable[[], datetime] = field(default=utcnow)

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {PolicyShadow: self.shadow, PolicyDiff: self.diff}

    async def shadow(self, invoker: Invoker, command: PolicyShadow) -> Reply:
        """Start (``<id> [duration]``), stop (``off``) or show the server's shadow policy."""
        current = (await self.settings.get(invoker.server)).shadow_policy
        now = self.clock()
        if command.ref is None:
            if current is None:
                return Reply(True, "No shadow policy", "Start one with /mod policy shadow <id or version> [7d].")
            state = "running" if current.active_at(now) else "stopped"
            return Reply(True, f"Shadow policy {current.policy_id} ({state})", fields=_fields(current))
        if command.ref.lower() == "off":
            if current is None or not current.active_at(now):
                return Reply(True, "No shadow policy is running")
            # Kept with its end, so /mod policy diff still reports the period that just ended.
            stopped = current.model_copy(update={"until": now})
            await self.settings.update(invoker.server, shadow_policy=stopped)
            return Reply(True, f"Shadow policy {current.policy_id} stopped", fields=_fields(stopped))
        found = await self.library.find_policy(invoker.server, command.ref)
        if found is None:
            raise LookupError(f"no policy {command.ref!r} is stored for this server (upload it first)")
        candidate = found.policy
        live = await self.policies.get(invoker.server)
        if candidate.version == live.version:
            raise ValueError(f"{candidate.id} {candidate.version} is the policy in use: shadow a different one")
        until = now + timedelta(seconds=parse_duration(command.duration)) if command.duration else None
        if until is not None and until <= now:
            raise ValueError("the duration must be longer than 0")
        shadow = ShadowPolicy(version=candidate.version, policy_id=candidate.id, started_at=now, until=until)
        await self.settings.update(invoker.server, shadow_policy=shadow)
        return Reply(
            True,
            f"Shadow policy {candidate.id} running beside {live.id}",
            "Its verdicts are stored and never acted on; /mod policy diff shows what it would change.",
            fields=_fields(shadow),
        )

    async def diff(self, invoker: Invoker, _: PolicyDiff) -> Reply:
        """The shadow policy's verdicts against the live ones over the shadow period."""
        shadow = (await self.settings.get(invoker.server)).shadow_policy
        if shadow is None:
            return Reply(False, "No shadow policy", "Start one with /mod policy shadow <id or version> [7d].")
        judged = await self.verdicts.judged_messages(
            invoker.server, DIFF_LIMIT, since=shadow.started_at, candidate_version=shadow.version
        )
        diff = ReplayDiff()
        for row in judged:
            if row.live is None or row.candidate is None:
                continue
            if row.candidate.error is not None:
                diff.failed += 1  # the reasoner failed on the candidate's look: no change of policy
                continue
            item = ReplayItem(row.event.message_id, row.event, row.live, row.reviewed)
            diff.add(item, row.live, row.candidate)
        return Reply(
            True,
            f"Shadow policy {shadow.policy_id} against the live verdicts",
            "\n".join(diff.lines()),
            fields=(
                *_fields(shadow),
                ("Compared", str(diff.compared)),
                ("Newly removed", str(diff.newly_removed)),
                ("No longer removed", str(diff.no_longer_removed)),
                ("Changed", str(diff.changed)),
            ),
        )


def _fields(shadow: ShadowPolicy) -> tuple[tuple[str, str], ...]:
    return (
        ("Policy", f"{shadow.policy_id} {shadow.version}"),
        ("Since", shadow.started_at.isoformat(timespec="seconds")),
        ("Until", shadow.until.isoformat(timespec="seconds") if shadow.until else "until turned off"),
    )
