"""One server never reads or changes another's data: cases, messages, verdicts, policies, stats, actions, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modbot.domain import Action, ActionKind, ActionOutcome, CaseStatus, ReviewOutcome, utcnow
from modbot.domain.records import VerdictToSave
from tests.store.factories import A, B, message, open_case, policy, verdict


async def test_one_server_never_sees_another_servers_cases(storage):
    case_id = await open_case(storage.messages, storage.verdicts, message("selling aimbot", server=A))
    assert await storage.cases.get_case(A, case_id) is not None
    assert await storage.cases.get_case(B, case_id) is None
    assert (await storage.cases.list_cases(B)).total == 0
    assert (await storage.cases.list_cases(B, status=None)).cases == ()
    assert not await storage.cases.set_case_status(B, case_id, CaseStatus.OVERTURNED)
    await storage.cases.set_case_posted_ref(B, case_id, "b's post")
    case = await storage.cases.get_case(A, case_id)
    assert case.status is CaseStatus.OPEN and case.posted_ref is None
    assert await storage.cases.reviewed_examples(B) == []


async def test_a_verdict_cannot_judge_another_servers_message(storage):
    row_id = (await storage.messages.record_messages([message("selling aimbot", server=A)]))[0].row_id
    with pytest.raises(LookupError):
        await storage.verdicts.save_verdicts([VerdictToSave(row_id, B, verdict(), False, True)])
    assert await storage.verdicts.verdicts_for(B, row_id) == []
    await storage.verdicts.save_verdicts([VerdictToSave(row_id, A, verdict(), False, False)])
    assert await storage.verdicts.verdicts_for(B, row_id) == []
    assert await storage.verdicts.verdicts_for(A, row_id) == [verdict()]


async def test_messages_and_erasure_stay_in_their_server(storage):
    await storage.messages.record_messages([message("in a", server=A, author_id="u9")])
    assert await storage.messages.recent_messages(B) == []
    assert await storage.messages.forget_member(B, "u9") == 0
    assert [m.event.text for m in await storage.messages.recent_messages(A)] == ["in a"]


async def test_policies_stats_actions_and_audit_are_per_server(storage):
    own = await storage.policies.add_policy(policy("Guild A's own"), A)
    await storage.policies.activate_policy(A, own)
    assert await storage.policies.list_policies(B) == []
    assert await storage.policies.active_policy(B) is None

    case_id = await open_case(storage.messages, storage.verdicts, message("selling aimbot", server=A))
    case = await storage.cases.get_case(A, case_id)
    await storage.actions.record_action(Action(ActionKind.DELETE, A, "c1", "m", "u1", case=case), ActionOutcome(True))
    await storage.cases.add_review(A, case_id, "mod", ReviewOutcome.UPHOLD)
    await storage.audit.audit(A, "mod", "review", {"case_id": case_id}, allowed=True, result="ok")

    since = utcnow() - timedelta(days=1)
    in_a, in_b = await storage.verdicts.stats(A, since, 1), await storage.verdicts.stats(B, since, 1)
    assert (in_a.messages_seen, in_a.acted, in_a.upheld, in_a.open_cases, in_a.escalated) == (1, 1, 1, 1, 1)
    assert (in_b.messages_seen, in_b.acted, in_b.upheld, in_b.open_cases, in_b.escalated) == (0, 0, 0, 0, 0)
    assert in_b.decisions == {} and in_b.median_latency_ms is None
    assert await storage.actions.actions_for_case(B, case_id) == []
    assert await storage.actions.recent_actions(B) == []
    assert await storage.audit.audit_entries(B) == []
    assert len(await storage.audit.audit_entries(A)) == 1
