"""VerdictLog: verdicts stored in batches with the cases they open, read back, and counted in stats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modbot.domain import Action, ActionKind, ActionOutcome, Decision, ReviewOutcome, Stage, utcnow
from modbot.domain.records import VerdictToSave
from tests.store.factories import A, message, open_case, record, verdict


async def test_batches_keep_order_ids_and_cases(storage):
    recorded = await storage.messages.record_messages([message(f"text {i}", author_id=f"a{i}") for i in range(5)])
    items = [VerdictToSave(r.row_id, A, verdict(), False, i % 2 == 0) for i, r in enumerate(recorded)]
    saved = await storage.verdicts.save_verdicts(items)
    assert len(saved) == 5
    for i, result in enumerate(saved):
        if i % 2 == 0:
            case = await storage.cases.get_case(A, result.case_id)
            assert case.event.author_id == f"a{i}" and case.verdict == verdict()
            assert result.verdict_id is not None
        else:
            assert result.case_id is None
    assert len({s.case_id for s in saved if s.case_id is not None}) == 3
    assert await storage.verdicts.save_verdicts([]) == []


async def test_a_verdict_for_a_missing_message_is_refused(storage):
    with pytest.raises(LookupError):
        await storage.verdicts.save_verdicts([VerdictToSave(10_000, A, verdict(), False, True)])


async def test_verdicts_for_a_message_in_the_order_stored(storage):
    row_id = await record(storage.messages, message("selling aimbot"))
    first = verdict(Decision.ESCALATE, stage=Stage.KEYWORD, score=0.4)
    second = verdict(Decision.REMOVE)
    await storage.verdicts.save_verdicts([VerdictToSave(row_id, A, first, True, False)])
    await storage.verdicts.save_verdicts([VerdictToSave(row_id, A, second, True, False)])
    assert await storage.verdicts.verdicts_for(A, row_id) == [first, second]
    assert await storage.verdicts.verdicts_for(A, row_id + 1) == []


async def test_stats_count_seen_escalated_acted_overturned_and_median_latency(storage):
    for latency, decision in ((10.0, Decision.REMOVE), (30.0, Decision.ALLOW), (20.0, Decision.ESCALATE)):
        row_id = await record(storage.messages, message("x" + str(latency)))
        saved = await storage.verdicts.save_verdicts(
            [VerdictToSave(row_id, A, verdict(decision, latency_ms=latency), False, decision is not Decision.ALLOW)]
        )
        if decision is Decision.REMOVE:
            case = await storage.cases.get_case(A, saved[0].case_id)
            await storage.actions.record_action(Action(ActionKind.DELETE, A, "c1", "m", "u1", case=case), ActionOutcome(True))
            await storage.cases.add_review(A, case.id, "mod", ReviewOutcome.OVERTURN)
    stats = await storage.verdicts.stats(A, utcnow() - timedelta(days=1), 1)
    assert stats.days == 1
    assert stats.messages_seen == 3
    assert stats.escalated == 3  # all reasoner-stage verdicts
    assert stats.acted == 1
    assert stats.overturned == 1 and stats.upheld == 0
    assert stats.open_cases == 2
    assert stats.median_latency_ms == 20.0
    assert stats.decisions == {"remove": 1, "allow": 1, "escalate": 1}
    assert (await storage.verdicts.stats(A, utcnow() + timedelta(days=1), 1)).messages_seen == 0


async def test_stats_count_upheld_reviews_and_only_enforcement_actions(storage):
    case_id = await open_case(storage.messages, storage.verdicts, message("selling aimbot"))
    case = await storage.cases.get_case(A, case_id)
    await storage.cases.add_review(A, case_id, "mod", ReviewOutcome.UPHOLD)
    await storage.cases.add_review(A, case_id, "mod2", ReviewOutcome.UPHOLD)
    # Posting the case and warning the member are not enforcement; a failed ban did nothing.
    for kind, ok in ((ActionKind.POST_CASE, True), (ActionKind.WARN, True), (ActionKind.BAN, False)):
        await storage.actions.record_action(Action(kind, A, "c1", "m", "u1", case=case), ActionOutcome(ok))
    stats = await storage.verdicts.stats(A, utcnow() - timedelta(days=1), 1)
    assert stats.upheld == 2 and stats.overturned == 0
    assert stats.acted == 0
    await storage.actions.record_action(Action(ActionKind.TIMEOUT, A, "c1", "m", "u1", case=case), ActionOutcome(True))
    assert (await storage.verdicts.stats(A, utcnow() - timedelta(days=1), 1)).acted == 1
