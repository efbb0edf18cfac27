"""Action planning and dispatch, pure: complete actions from a verdict; outcomes recorded through the ports."""

from __future__ import annotations

import pytest

from bot.domain import Action, ActionKind, ActionOutcome, Case, Decision, MessageEvent, ServerRef, Stage, Verdict
from bot.domain.policy import parse_policy
from bot.domain.settings import ServerSettings
from bot.moderation.enforcement import (
    GENERIC_NOTICE,
    ActionDispatcher,
    ModeratorActions,
    plan_actions,
    plan_moderator_action,
)
from tests.conftest import TEST_POLICY
from tests.support.recording_sink import RecordingSink

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
    assert kinds(plan_actions(EVENT, v, POLICY, ENFORCE, case_of(v))) == expected


def test_every_action_carries_where_it_happened_and_where_the_moderators_are():
    v = verdict(Decision.REMOVE_AND_TIMEOUT, "SC1")
    for action in plan_actions(EVENT, v, POLICY, ENFORCE, case_of(v)):
        assert (action.channel_id, action.thread_id, action.message_id, action.user_id) == ("c1", "t1", "m1", "u1")
        assert action.mod_channel_id == "mods" and action.case.id == 7 and action.reason == "because"


def test_a_timeout_lasts_the_longest_severity_timeout_else_the_servers_default():
    high = verdict(Decision.REMOVE_AND_TIMEOUT, "SC1", "CH1")  # SC1 is "high": [timeouts] high = "1h"
    (timeout,) = [a for a in plan_actions(EVENT, high, POLICY, ENFORCE, None) if a.kind is ActionKind.TIMEOUT]
    assert timeout.duration_s == 3600
    medium = verdict(Decision.REMOVE_AND_TIMEOUT, "CH1")  # no timeout for "medium"
    (timeout,) = [a for a in plan_actions(EVENT, medium, POLICY, ENFORCE, None) if a.kind is ActionKind.TIMEOUT]
    assert timeout.duration_s == 600


def test_the_member_is_told_the_rules_in_the_policys_words_not_the_rationale():
    v = verdict(Decision.REMOVE, "CH1", "XX9", rationale="model thinks so")
    (warn,) = [a for a in plan_actions(EVENT, v, POLICY, ENFORCE, None) if a.kind is ActionKind.WARN]
    assert warn.member_notice == "• CH1: Selling or sharing cheats\n• XX9"
    nameless = verdict(Decision.REMOVE)
    (warn,) = [a for a in plan_actions(EVENT, nameless, POLICY, ENFORCE, None) if a.kind is ActionKind.WARN]
    assert warn.member_notice == GENERIC_NOTICE


def test_no_warning_when_the_server_turned_warnings_off_and_no_post_without_a_case():
    v = verdict(Decision.REMOVE, "CH1")
    quiet = ENFORCE.model_copy(update={"warn_users": False})
    assert kinds(plan_actions(EVENT, v, POLICY, quiet, None)) == [ActionKind.DELETE]


def test_a_moderators_timeout_is_complete_and_a_ban_has_no_duration():
    case = case_of(verdict(Decision.FLAG, "CH1"))
    timeout = plan_moderator_action(case, ActionKind.TIMEOUT, ENFORCE, moderator_id="mod")
    assert timeout.duration_s == 600 and timeout.mod_channel_id == "mods" and timeout.thread_id == "t1"
    assert plan_moderator_action(case, ActionKind.TIMEOUT, ENFORCE, moderator_id="mod", duration_s=60).duration_s == 60
    ban = plan_moderator_action(case, ActionKind.BAN, ENFORCE, moderator_id="mod")
    assert ban.duration_s is None and ban.user_id == "u1" and "mod" in ban.reason
    with pytest.raises(ValueError):
        plan_moderator_action(case, ActionKind.DELETE, ENFORCE, moderator_id="mod")


class Ports:
    """Tiny fakes of the ActionLog, CaseBook (posted ref) and AuditLog (note_once) ports."""

    def __init__(self):
        self.recorded: list[tuple[Action, ActionOutcome, str | None]] = []
        self.posted: list[tuple[int, str]] = []
        self.noted: set[str] = set()

    async def record_action(self, action, outcome, *, requested_by=None):
        self.recorded.append((action, outcome, requested_by))
        return len(self.recorded)

    async def set_case_posted_ref(self, server, case_id, ref):
        self.posted.append((case_id, ref))

    async def note_once(self, server, kind, detail=""):
        first = kind not in self.noted
        self.noted.add(kind)
        return first


async def test_the_dispatcher_records_every_outcome_and_where_the_case_was_posted():
    ports, sink = Ports(), RecordingSink()
    dispatcher = ActionDispatcher(ports, ports, ports, {"test": sink})
    v = verdict(Decision.REMOVE, "CH1")
    outcomes = await dispatcher.execute_all(plan_actions(EVENT, v, POLICY, ENFORCE, case_of(v)))
    assert all(o.ok for o in outcomes)
    assert [(a.kind, o.platform_ref) for a, o, _ in ports.recorded] == [
        (ActionKind.DELETE, "ref-1"),
        (ActionKind.WARN, "ref-2"),
        (ActionKind.POST_CASE, "ref-3"),
    ]
    assert ports.posted == [(7, "ref-3")]
    # Each action knows what the plan already achieved (a sink says "removed", lists it on the case).
    assert [t.kind for t in sink.actions[-1].taken] == [ActionKind.DELETE, ActionKind.WARN]


async def test_an_already_posted_case_keeps_its_reference():
    ports, sink = Ports(), RecordingSink()
    dispatcher = ActionDispatcher(ports, ports, ports, {"test": sink})
    v = verdict(Decision.FLAG, "CH1")
    # The sink answers a repeated post with the reference it already has (the recording sink: "ref-1").
    await dispatcher.execute_all(plan_actions(EVENT, v, POLICY, ENFORCE, case_of(v, posted_ref="ref-1")))
    assert ports.posted == []


async def test_a_permission_problem_is_told_once_in_the_mod_channel_and_a_missing_sink_is_an_outcome():
    ports, sink = Ports(), RecordingSink(refuse={ActionKind.DELETE})
    dispatcher = ActionDispatcher(ports, ports, ports, {"test": sink})
    v = verdict(Decision.REMOVE, "CH1")
    for _ in range(2):
        await dispatcher.execute_all(plan_actions(EVENT, v, POLICY, ENFORCE, None))
    notices = [a for a in sink.actions if a.kind is ActionKind.NOTIFY_MODS]
    assert len(notices) == 1 and notices[0].mod_channel_id == "mods" and "delete" in notices[0].reason
    elsewhere = MessageEvent(server=ServerRef("nowhere", "1"), channel_id="c", message_id="m", author_id="u", text="x")
    (outcome,) = await dispatcher.execute_all(plan_actions(elsewhere, v, POLICY, ENFORCE, None)[:1])
    assert not outcome.ok and "no action executor" in outcome.detail and ports.recorded[-1][1] == outcome


async def test_moderator_actions_are_recorded_as_requested_by_the_moderator():
    ports, sink = Ports(), RecordingSink()

    class Settings:
        async def get(self, server):
            return ENFORCE

    enforcer = ModeratorActions(ActionDispatcher(ports, ports, ports, {"test": sink}), Settings())
    outcome = await enforcer.moderator_action(case_of(verdict(Decision.FLAG)), ActionKind.TIMEOUT, moderator_id="mod")
    assert outcome.ok and sink.actions[0].duration_s == 600
    assert [(a.kind, by) for a, _, by in ports.recorded] == [(ActionKind.TIMEOUT, "mod")]
