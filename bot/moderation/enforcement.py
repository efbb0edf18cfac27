"""From a verdict to platform actions, and carrying them out through each platform's ``ActionSink``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.domain import Action, ActionKind, ActionOutcome, Case, Decision, MessageEvent, Verdict
from bot.domain.policy import Policy
from bot.ports import ActionSink
from bot.domain.settings import ServerSettings
from bot.store.repository import Store

__all__ = ["ActionDispatcher", "plan_actions", "timeout_for"]

log = logging.getLogger(__name__)


def timeout_for(policy: Policy, verdict: Verdict, settings: ServerSettings) -> int:
    """The longest timeout among the violated rules' severities, else the server's default."""
    longest = 0
    for rule_id in verdict.rule_ids:
        rule = policy.rule(rule_id)
        if rule is not None:
            longest = max(longest, policy.timeout_seconds(rule.severity) or 0)
    return longest or settings.default_timeout_s


def plan_actions(
    event: MessageEvent, verdict: Verdict, policy: Policy, settings: ServerSettings, case: Case | None
) -> list[Action]:
    """The actions an enforcing server takes for a verdict; shadow mode takes none of them."""
    if verdict.decision is Decision.ALLOW:
        return []
    reason = verdict.rationale or ", ".join(verdict.rule_ids) or verdict.decision.value
    common = dict(server=event.server, channel_id=event.channel_id, message_id=event.message_id, user_id=event.author_id)
    actions: list[Action] = []
    if verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT):
        actions.append(Action(ActionKind.DELETE, reason=reason, case=case, **common))
    if verdict.decision is Decision.REMOVE_AND_TIMEOUT:
        actions.append(
            Action(ActionKind.TIMEOUT, reason=reason, duration_s=timeout_for(policy, verdict, settings), case=case, **common)
        )
    if verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT) and settings.warn_users:
        actions.append(Action(ActionKind.WARN, reason=reason, case=case, **common))
    if case is not None:
        actions.append(Action(ActionKind.POST_CASE, reason=reason, case=case, **common))
    return actions


class ActionDispatcher:
    """Routes actions to the platform's sink and records every outcome; permission problems are told once."""

    def __init__(self, store: Store, sinks: Mapping[str, ActionSink] | None = None):
        self.store = store
        self.sinks: dict[str, ActionSink] = dict(sinks or {})

    def register(self, platform: str, sink: ActionSink) -> None:
        self.sinks[platform] = sink

    async def execute(self, action: Action, *, requested_by: str | None = None) -> ActionOutcome:
        sink = self.sinks.get(action.server.platform)
        if sink is None:
            outcome = ActionOutcome(False, f"no action executor for platform {action.server.platform!r}")
        else:
            try:
                outcome = await sink.execute(action)
            except Exception as exc:  # an adapter bug must not lose the record of what was tried
                log.exception("action %s failed in the %s adapter", action.kind, action.server.platform)
                outcome = ActionOutcome(False, f"adapter error: {type(exc).__name__}: {exc}")
        await self.store.record_action(action, outcome, requested_by=requested_by)
        if outcome.permission_problem and sink is not None:
            await self._report_permission_problem(action, outcome, sink)
        return outcome

    async def execute_all(self, actions: list[Action]) -> list[ActionOutcome]:
        return [await self.execute(action) for action in actions]

    async def _report_permission_problem(self, action: Action, outcome: ActionOutcome, sink: ActionSink) -> None:
        # Once per server and action kind: a missing permission repeats on every message otherwise.
        kind = f"permission:{action.kind.value}"
        if not await self.store.note_once(action.server, kind, outcome.detail):
            return
        notice = Action(
            ActionKind.NOTIFY_MODS,
            server=action.server,
            reason=f"I could not {action.kind.value} ({outcome.detail}). "
            "Please check my permissions and role position; I will not repeat this notice.",
        )
        try:
            result = await sink.execute(notice)
        except Exception as exc:
            result = ActionOutcome(False, f"adapter error: {exc}")
        await self.store.record_action(notice, result)
