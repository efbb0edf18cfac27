"""ActionLog: every action with its outcome and the platform's reference for what it did."""

from __future__ import annotations

from modbot.domain import Action, ActionKind, ActionOutcome
from modbot.domain.records import ActionRecord
from tests.store.factories import A, message, open_case


async def test_an_action_comes_back_with_its_outcome_and_platform_ref(storage):
    case = await storage.cases.get_case(A, await open_case(storage.messages, storage.verdicts, message("selling aimbot")))
    posted = await storage.actions.record_action(
        Action(ActionKind.POST_CASE, A, "c-mod", case=case), ActionOutcome(True, "posted", platform_ref="c-mod/m-9")
    )
    timeout = await storage.actions.record_action(
        Action(ActionKind.TIMEOUT, A, "c1", "m1", "u1", duration_s=3600, case=case),
        ActionOutcome(False, "x" * 5000, permission_problem=True),
        requested_by="mod",
    )
    records = await storage.actions.actions_for_case(A, case.id)
    assert [r.id for r in records] == [posted, timeout]
    first, second = records
    assert isinstance(first, ActionRecord)
    assert (first.kind, first.ok, first.detail, first.platform_ref, first.server) == (
        ActionKind.POST_CASE, True, "posted", "c-mod/m-9", A
    )
    assert first.case_id == case.id and first.requested_by is None and first.created_at.tzinfo is not None
    assert second.kind is ActionKind.TIMEOUT and not second.ok and second.permission_problem
    assert len(second.detail) == 2000  # long platform errors are cut
    assert (second.channel_id, second.message_id, second.user_id, second.duration_s) == ("c1", "m1", "u1", 3600)
    assert second.requested_by == "mod" and second.platform_ref is None


async def test_recent_actions_include_those_without_a_case(storage):
    ids = [
        await storage.actions.record_action(Action(ActionKind.NOTIFY_MODS, A, "c-mod", reason=f"n{i}"), ActionOutcome(True))
        for i in range(3)
    ]
    recent = await storage.actions.recent_actions(A, limit=2)
    assert [r.id for r in recent] == ids[1:]
    assert all(r.case_id is None and r.kind is ActionKind.NOTIFY_MODS for r in recent)
    assert await storage.actions.actions_for_case(A, 1) == []
