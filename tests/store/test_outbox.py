"""The action outbox: planned with the verdict in one transaction, claimed for one attempt, settled atomically."""

from __future__ import annotations

from datetime import timedelta

from modbot.domain import Action, ActionKind, ActionOutcome, utcnow
from modbot.domain.records import VerdictToSave
from tests.store.factories import A, B, message, verdict


def delete_of(server=A, message_id="m1") -> Action:
    return Action(ActionKind.DELETE, server=server, channel_id="c1", message_id=message_id, user_id="u1", reason="r")


async def saved_with_actions(storage, *actions, server=A):
    (recorded,) = await storage.messages.record_messages([message("selling aimbot", server=server)])
    (saved,) = await storage.verdicts.save_verdicts(
        [VerdictToSave(recorded.row_id, server, verdict(), shadow=False, open_case=True, actions=actions)]
    )
    return saved


async def test_a_verdicts_actions_are_stored_with_it_and_its_new_case(storage):
    post = Action(ActionKind.POST_CASE, server=A, channel_id="c1", mod_channel_id="mods")
    saved = await saved_with_actions(storage, delete_of(), post)
    assert [p.action.kind for p in saved.planned] == [ActionKind.DELETE, ActionKind.POST_CASE]
    assert all(p.case_id == saved.case_id and p.attempts == 0 for p in saved.planned)
    keys = {p.action.idempotency_key for p in saved.planned}
    assert len(keys) == 2 and all(len(k) == 32 for k in keys)
    assert saved.planned[1].action.mod_channel_id == "mods"
    assert await storage.outbox.count_unsettled(A) == 2 and await storage.outbox.count_unsettled(B) == 0


async def test_a_planned_action_belongs_to_its_planner_until_its_lease_ends(storage):
    (planned,) = await storage.outbox.plan_actions([delete_of()])
    assert await storage.outbox.due_actions(10) == []  # its planner runs it at once
    assert not await storage.outbox.claim(planned)
    # A closing planner gives its leases up (see tests/store/test_claims.py for other processes).
    await storage.outbox.release_claims()
    (due,) = await storage.outbox.due_actions(10)
    assert due.id == planned.id
    assert await storage.outbox.claim(due)
    assert not await storage.outbox.claim(due)


async def test_a_retry_counts_the_attempt_keeps_the_key_and_is_claimed_once(storage):
    (planned,) = await storage.outbox.plan_actions([delete_of()], requested_by="mod-1")
    await storage.outbox.retry_later(planned, utcnow() - timedelta(seconds=1), "HTTP 503")
    (due,) = await storage.outbox.due_actions(10)
    assert (due.attempts, due.action.idempotency_key, due.requested_by) == (1, planned.action.idempotency_key, "mod-1")
    assert await storage.outbox.claim(due)
    assert not await storage.outbox.claim(due)  # a second runner (or sweep) does not get it
    assert await storage.outbox.due_actions(10) == []


async def test_settling_records_the_outcome_and_empties_the_outbox_in_one_step(storage):
    saved = await saved_with_actions(storage, delete_of())
    (planned,) = saved.planned
    await storage.outbox.settle(planned, planned.action, ActionOutcome(True, "deleted", platform_ref="c1/m1"))
    assert await storage.outbox.count_unsettled() == 0
    (record,) = await storage.actions.actions_for_case(A, saved.case_id)
    assert (record.kind, record.ok, record.platform_ref, record.case_id) == (ActionKind.DELETE, True, "c1/m1", saved.case_id)
    await storage.outbox.release_claims()
    assert not await storage.outbox.claim(planned)  # settled: nothing left to claim
    # A second runner settling the same action records nothing more.
    assert await storage.outbox.settle(planned, planned.action, ActionOutcome(True, "again")) is None
    assert len(await storage.actions.actions_for_case(A, saved.case_id)) == 1
