"""From a verdict to complete platform actions (``modbot.moderation.dispatch`` carries them out).

The planner fills every action in (where the mod channel is, what the member is told, how long a
timeout lasts), so a sink never calls back into the core.
"""

from __future__ import annotations

from modbot.domain import Action, ActionKind, Case, Decision, MessageEvent, Verdict
from modbot.domain.policy import Policy
from modbot.domain.settings import ServerSettings

__all__ = ["member_notice", "plan_actions", "plan_moderator_action", "timeout_for"]

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
    event: MessageEvent, verdict: Verdict, policy: Policy, settings: ServerSettings, *, opens_case: bool
) -> list[Action]:
    """The actions an enforcing server takes for a verdict (shadow servers take none: the caller's rule).

    They are planned before the case exists (they are stored with the verdict that opens it), so they
    carry no case: the dispatcher attaches it when they run. ``opens_case`` adds the case post.
    """
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
    )
    removes = verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT)
    actions: list[Action] = []
    if removes:
        actions.append(Action(ActionKind.DELETE, **common))
    if verdict.decision is Decision.REMOVE_AND_TIMEOUT:
        actions.append(Action(ActionKind.TIMEOUT, duration_s=timeout_for(policy, verdict, settings), **common))
    if removes and settings.warn_users:
        actions.append(Action(ActionKind.WARN, member_notice=member_notice(policy, verdict), **common))
    if opens_case:
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
        reason=f"case #{case.display_number} by moderator {moderator_id}",
        duration_s=(duration_s or settings.default_timeout_s) if kind is ActionKind.TIMEOUT else None,
        case=case,
    )
