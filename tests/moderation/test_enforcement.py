"""Action planning, pure: complete actions from a verdict (``test_dispatch`` carries them out)."""

from __future__ import annotations

import pytest

from modbot.domain import Action, ActionKind, Case, Decision, MessageEvent, ServerRef, Stage, Verdict
from modbot.domain.policy import parse_policy
from modbot.domain.settings import ServerSettings
from modbot.moderation.enforcement import GENERIC_NOTICE, plan_actions, plan_moderator_action
from tests.conftest import TEST_POLICY

POLICY = parse_policy(TEST_POLICY)
SERVER = ServerRef("test", "g1")
EVENT = MessageEvent(server=SERVER, channel_id="c1", message_id="m1", author_id="u1", text="x", thread_id="t1")
ENFORCE = ServerSettings(mode="enforce", policy_id="test-policy", mod_channel_id="mods", default_timeout_s=600)


def verdict(decision: Decision, *rule_ids: str, rationale: str = "because") -> Verdict:
    return Verdict(decision, Stage.REASONER, POLICY.version, rule_ids=rule_ids, rationale=rationale)


def case_of(v: Verdict, posted_ref: str | None = None) -> Case:
    return Case(7, EVENT, v, posted_ref=posted_ref)


def kinds(actions: list[Action]) -> list[ActionKind]:
    return [a.kind for a in actions]


@pytest.mark.parametrize(
    "decision, expected",
    [
        (Decision.ALLOW, []),
        (Decision.FLAG, [ActionKind.POST_CASE]),
        (Decision.ESCALATE, [ActionKind.POST_CASE]),
        (Decision.REMOVE, [ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE]),
        (Decision.REMOVE_AND_TIMEOUT, [ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN, ActionKind.POST_CASE]),
    ],
)
def test_each_decision_plans_its_actions(decision, expected):
    v = verdict(decision, "CH1")
    assert kinds(plan_actions(EVENT, v, POLICY, ENFORCE, opens_case=True)) == expected


def test_every_action_carries_where_it_happened_and_where_the_moderators_are():
    v = verdict(Decision.REMOVE_AND_TIMEOUT, "SC1")
    for action in plan_actions(EVENT, v, POLICY, ENFORCE, opens_case=True):
        assert (action.channel_id, action.thread_id, action.message_id, action.user_id) == ("c1", "t1", "m1", "u1")
        assert action.mod_channel_id == "mods" and action.reason == "because"
        # Planned with the verdict, before its case exists: the dispatcher attaches the case when it runs.
        assert action.case is None and action.idempotency_key == ""


def test_a_timeout_lasts_the_longest_severity_timeout_else_the_servers_default():
    high = verdict(Decision.REMOVE_AND_TIMEOUT, "SC1", "CH1")  # SC1 is "high": [timeouts] high = "1h"
    (timeout,) = [a for a in plan_actions(EVENT, high, POLICY, ENFORCE, opens_case=False) if a.kind is ActionKind.TIMEOUT]
    assert timeout.duration_s == 3600
    medium = verdict(Decision.REMOVE_AND_TIMEOUT, "CH1")  # no timeout for "medium"
    (timeout,) = [a for a in plan_actions(EVENT, medium, POLICY, ENFORCE, opens_case=False) if a.kind is ActionKind.TIMEOUT]
    assert timeout.duration_s == 600


def test_the_member_is_told_the_rules_in_the_policys_words_not_the_rationale():
    v = verdict(Decision.REMOVE, "CH1", "XX9", rationale="model thinks so")
    (warn,) = [a for a in plan_actions(EVENT, v, POLICY, ENFORCE, opens_case=False) if a.kind is ActionKind.WARN]
    assert warn.member_notice == "• CH1: Selling or sharing cheats\n• XX9"
    nameless = verdict(Decision.REMOVE)
    (warn,) = [a for a in plan_actions(EVENT, nameless, POLICY, ENFORCE, opens_case=False) if a.kind is ActionKind.WARN]
    assert warn.member_notice == GENERIC_NOTICE


def test_no_warning_when_the_server_turned_warnings_off_and_no_post_without_a_case():
    v = verdict(Decision.REMOVE, "CH1")
    quiet = ENFORCE.model_copy(update={"warn_users": False})
    assert kinds(plan_actions(EVENT, v, POLICY, quiet, opens_case=False)) == [ActionKind.DELETE]


def test_a_moderators_timeout_is_complete_and_a_ban_has_no_duration():
    case = case_of(verdict(Decision.FLAG, "CH1"))
    timeout = plan_moderator_action(case, ActionKind.TIMEOUT, ENFORCE, moderator_id="mod")
    assert timeout.duration_s == 600 and timeout.mod_channel_id == "mods" and timeout.thread_id == "t1"
    assert plan_moderator_action(case, ActionKind.TIMEOUT, ENFORCE, moderator_id="mod", duration_s=60).duration_s == 60
    ban = plan_moderator_action(case, ActionKind.BAN, ENFORCE, moderator_id="mod")
    assert ban.duration_s is None and ban.user_id == "u1" and "mod" in ban.reason
    with pytest.raises(ValueError):
        plan_moderator_action(case, ActionKind.DELETE, ENFORCE, moderator_id="mod")
