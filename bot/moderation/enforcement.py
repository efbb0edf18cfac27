"""From a verdict to complete platform actions, and carrying them out through each platform's ``ActionSink``.

The planner fills every action in (where the mod channel is, what the member is told, how long a
timeout lasts), so a sink never calls back into the core; the dispatcher records every outcome with
the platform's reference, and remembers where a case was posted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from bot.domain import Action, ActionKind, ActionOutcome, ActionTaken, Case, Decision, MessageEvent, Verdict
from bot.domain.policy import Policy
from bot.domain.settings import ServerSettings
from bot.ports import ActionLog, ActionSink, AuditLog, CaseBook, EffectiveSettings

__all__ = ["ActionDispatcher", "ModeratorActions", "member_notice", "plan_actions", "plan_moderator_action", "timeout_for"]

log = logging.getLogger(__name__)

#: What a member is told when the broken rules cannot be named.
GENERIC_NOTICE = "It broke the server's rules."


def timeout_for(policy: Policy, verdict: Verdict, settings: ServerSettings) -> int:
    """The longest timeout among the violated rules' severities, else the server's default."""
    longest = 0
    for rule_id in verdict.rule_ids:
        rule = policy.rule(rule_id)
        if rule is not None:
            longest = max(longest, policy.timeout_seconds(rule.severity) or 0)
    return longest or settings.default_timeout_s


def member_notice(policy: Policy, verdict: Verdict) -> str:
    """The rules broken, one line each in the policy's own words (the model's rationale is for moderators)."""
    lines = []
    for rule_id in verdict.rule_ids:
        rule = policy.rule(rule_id)
        lines.append(f"• {rule_id}: {rule.description}" if rule is not None else f"• {rule_id}")
    return "\n".join(lines) or GENERIC_NOTICE


def plan_actions(
    event: MessageEvent, verdict: Verdict, policy: Policy, settings: ServerSettings, case: Case | None
) -> list[Action]:
    """The actions an enforcing server takes for a verdict (shadow servers take none: the caller's rule)."""
    if verdict.decision is Decision.ALLOW:
        return []
    reason = verdict.rationale or ", ".join(verdict.rule_ids) or verdict.decision.value
    common = dict(
        server=event.server,
        channel_id=event.channel_id,
        thread_id=event.thread_id,
        message_id=event.message_id,
        user_id=event.author_id,
        mod_channel_id=settings.mod_channel_id,
        reason=reason,
        case=case,
    )
    removes = verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT)
    actions: list[Action] = []
    if removes:
        actions.append(Action(ActionKind.DELETE, **common))
    if verdict.decision is Decision.REMOVE_AND_TIMEOUT:
        actions.append(Action(ActionKind.TIMEOUT, duration_s=timeout_for(policy, verdict, settings), **common))
    if removes and settings.warn_users:
        actions.append(Action(ActionKind.WARN, member_notice=member_notice(policy, verdict), **common))
    if case is not None:
        actions.append(Action(ActionKind.POST_CASE, **common))
    return actions


def plan_moderator_action(
    case: Case, kind: ActionKind, settings: ServerSettings, *, moderator_id: str, duration_s: int | None = None
) -> Action:
    """A moderator's timeout or ban of a case's author, as complete as the bot's own actions."""
    if kind not in (ActionKind.TIMEOUT, ActionKind.BAN):
        raise ValueError(f"a moderator can time out or ban from a case, not {kind.value}")
    event = case.event
    return Action(
        kind,
        server=event.server,
        channel_id=event.channel_id,
        thread_id=event.thread_id,
        message_id=event.message_id,
        user_id=event.author_id,
        mod_channel_id=settings.mod_channel_id,
        reason=f"case #{case.id} by moderator {moderator_id}",
        duration_s=(duration_s or settings.default_timeout_s) if kind is ActionKind.TIMEOUT else None,
        case=case,
    )


class ActionDispatcher:
    """Routes actions to the platform's sink and records every outcome; permission problems are told once."""

    def __init__(
        self, actions: ActionLog, cases: CaseBook, notices: AuditLog, sinks: Mapping[str, ActionSink] | None = None
    ):
        self.actions = actions
        self.cases = cases
        self.notices = notices
        self.sinks: dict[str, ActionSink] = dict(sinks or {})

    def register(self, platform: str, sink: ActionSink) -> None:
        """Route ``platform``'s actions to ``sink`` (the composition root does this per adapter)."""
        self.sinks[platform] = sink

    async def execute(self, action: Action, *, requested_by: str | None = None) -> ActionOutcome:
        """Carry out one action and record it; never raises for a sink's failure."""
        sink = self.sinks.get(action.server.platform)
        outcome = await self._run(sink, action)
        await self.actions.record_action(action, outcome, requested_by=requested_by)
        if outcome.ok and action.kind is ActionKind.POST_CASE and action.case is not None and outcome.platform_ref:
            if outcome.platform_ref != action.case.posted_ref:
                await self.cases.set_case_posted_ref(action.server, action.case.id, outcome.platform_ref)
        if outcome.permission_problem and sink is not None:
            await self._report_permission_problem(action, outcome, sink)
        return outcome

    async def execute_all(self, actions: list[Action]) -> list[ActionOutcome]:
        """Carry out a plan in order; each action carries what the earlier ones of the plan achieved."""
        outcomes: list[ActionOutcome] = []
        taken: list[ActionTaken] = []
        for action in actions:
            if taken:
                action = replace(action, taken=tuple(taken))
            outcome = await self.execute(action)
            outcomes.append(outcome)
            taken.append(ActionTaken(action.kind, outcome.ok, outcome.detail))
        return outcomes

    async def _run(self, sink: ActionSink | None, action: Action) -> ActionOutcome:
        if sink is None:
            return ActionOutcome(False, f"no action executor for platform {action.server.platform!r}")
        try:
            return await sink.execute(action)
        except Exception as exc:  # an adapter bug must not lose the record of what was tried
            log.exception("action %s failed in the %s adapter", action.kind, action.server.platform)
            return ActionOutcome(False, f"adapter error: {type(exc).__name__}: {exc}")

    async def _report_permission_problem(self, action: Action, outcome: ActionOutcome, sink: ActionSink) -> None:
        # Once per server and action kind: a missing permission repeats on every message otherwise.
        if not await self.notices.note_once(action.server, f"permission:{action.kind.value}", outcome.detail):
            return
        notice = Action(
            ActionKind.NOTIFY_MODS,
            server=action.server,
            mod_channel_id=action.mod_channel_id,
            reason=f"I could not {action.kind.value} ({outcome.detail}). "
            "Please check my permissions and role position; I will not repeat this notice.",
        )
        result = await self._run(sink, notice)
        await self.actions.record_action(notice, result)


class ModeratorActions:
    """The ``Enforcer`` port: a moderator's timeout or ban, planned and dispatched like the bot's own."""

    def __init__(self, dispatcher: ActionDispatcher, settings: EffectiveSettings):
        self.dispatcher = dispatcher
        self.settings = settings

    async def moderator_action(
        self, case: Case, kind: ActionKind, *, moderator_id: str, duration_s: int | None = None
    ) -> ActionOutcome:
        """Carry out the action; it is recorded as requested by the moderator and changes no case status."""
        settings = await self.settings.get(case.event.server)
        action = plan_moderator_action(case, kind, settings, moderator_id=moderator_id, duration_s=duration_s)
        return await self.dispatcher.execute(action, requested_by=moderator_id)
