"""The verdict store on real SQLite files: recording, isolation between servers, erasure, stats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import Action, ActionKind, ActionOutcome, Decision, ServerRef, Stage, TokenCounts, Verdict, utcnow
from bot.store.database import create_engine, upgrade
from bot.store.repository import ERASED, MessageStatus, Store
from tests.conftest import event

A = ServerRef("discord", "111")
B = ServerRef("discord", "222")


@pytest.fixture(params=["sqlite-fast-path", "generic-sqlalchemy-path"])
async def store(tmp_path, request):
    url = f"sqlite+aiosqlite:///{tmp_path / 's.sqlite3'}"
    await upgrade(url)
    store = Store(create_engine(url))
    # The generic path is what other databases take; both must store exactly the same rows.
    store.sqlite_fast_path = request.param == "sqlite-fast-path"
    await store.ensure_server(A, "Guild A")
    await store.ensure_server(B, "Guild B")
    yield store
    await store.close()


def verdict(decision=Decision.REMOVE, **kw):
    return Verdict(
        decision=decision,
        stage=kw.pop("stage", Stage.REASONER),
        policy_version="sha256:v1",
        categories=("cheats",),
        rule_ids=("CH1",),
        confidence=0.9,
        rationale="sells cheats",
        reasoning="long analysis",
        model="m",
        latency_ms=kw.pop("latency_ms", 12.0),
        tokens=TokenCounts(600, 40, 30),
        **kw,
    )


async def test_message_is_pending_until_judged_and_verdict_keeps_everything(store):
    ev = event("selling aimbot", server=A, author_role_ids=("r1",))
    recorded = await store.record_message(ev)
    assert recorded.created and recorded.status == MessageStatus.PENDING
    again = await store.record_message(ev)
    assert not again.created and again.row_id == recorded.row_id
    loaded, status = await store.load_message(recorded.row_id)
    assert status == "pending" and loaded == ev

    _, case_id = await store.save_verdict(recorded.row_id, A, verdict(), shadow=False, open_case=True)
    case = await store.get_case(A, case_id)
    assert case.verdict == verdict()  # every field survives the round trip
    assert case.verdict.tokens.prompt_evaluated == 40
    assert (await store.load_message(recorded.row_id))[1] == "judged"
    assert await store.has_verdict(recorded.row_id, "sha256:v1")
    assert not await store.has_verdict(recorded.row_id, "sha256:v2")


async def test_an_edit_is_a_new_revision(store):
    first = await store.record_message(event("hello", server=A, message_id="m1"))
    edited = await store.record_message(event("hello edited", server=A, message_id="m1", edited=True))
    assert first.row_id != edited.row_id and edited.created


async def test_one_server_never_sees_another_servers_cases(store):
    rec = await store.record_message(event("selling aimbot", server=A))
    _, case_id = await store.save_verdict(rec.row_id, A, verdict(), shadow=False, open_case=True)
    assert await store.get_case(A, case_id) is not None
    assert await store.get_case(B, case_id) is None
    assert (await store.list_cases(B))[1] == 0
    assert not await store.set_case_status(B, case_id, "overturned")
    assert (await store.get_case(A, case_id)).status == "open"
    with pytest.raises(LookupError):
        await store.save_verdict(rec.row_id, B, verdict(), shadow=False, open_case=True)


async def test_forget_member_erases_content_but_keeps_decisions(store):
    rec = await store.record_message(event("my address is 1 Main St", server=A, author_id="victim"))
    _, case_id = await store.save_verdict(rec.row_id, A, verdict(), shadow=False, open_case=True)
    other = await store.record_message(event("same author elsewhere", server=B, author_id="victim"))
    assert await store.forget_member(A, "victim") == 1
    case = await store.get_case(A, case_id)
    assert case.event.text == ERASED and case.verdict.rationale == ERASED and case.verdict.reasoning == ""
    assert case.verdict.decision is Decision.REMOVE
    assert (await store.load_message(other.row_id))[0].text == "same author elsewhere"


async def test_stats_count_seen_escalated_acted_overturned_and_median_latency(store):
    for latency, decision in ((10.0, Decision.REMOVE), (30.0, Decision.ALLOW), (20.0, Decision.ESCALATE)):
        rec = await store.record_message(event("x" + str(latency), server=A))
        _, case_id = await store.save_verdict(
            rec.row_id, A, verdict(decision, latency_ms=latency), shadow=False, open_case=decision is not Decision.ALLOW
        )
        if decision is Decision.REMOVE:
            case = await store.get_case(A, case_id)
            await store.record_action(Action(ActionKind.DELETE, A, "c1", "m", "u1", case=case), ActionOutcome(True))
            await store.add_review(A, case_id, "mod", "overturn")
    stats = await store.stats(A, utcnow() - timedelta(days=1), 1)
    assert stats.messages_seen == 3
    assert stats.escalated == 3  # all reasoner-stage verdicts
    assert stats.acted == 1
    assert stats.overturned == 1
    assert stats.median_latency_ms == 20.0
    assert (await store.stats(B, utcnow() - timedelta(days=1), 1)).messages_seen == 0


async def test_notices_are_recorded_once(store):
    assert await store.note_once(A, "permission:delete")
    assert not await store.note_once(A, "permission:delete")
    assert await store.note_once(B, "permission:delete")


async def test_policy_versions_are_private_to_their_server(store, tmp_path):
    from tests.conftest import TEST_POLICY
    from bot.domain.policy import parse_policy

    policy = parse_policy(TEST_POLICY.replace("Test policy", "Guild A's own"))
    row = await store.add_policy(policy, A, uploaded_by="mod")
    assert await store.add_policy(policy, A) == row  # idempotent
    assert (await store.find_policy(A, "test-policy"))[0] == row
    assert await store.find_policy(B, "test-policy") is None
    assert await store.find_policy(B, policy.version) is None
    await store.activate_policy(A, row)
    assert (await store.active_policy(A)).version == policy.version
    assert await store.active_policy(B) is None


async def test_batches_keep_order_ids_and_cases(store):
    events = [event(f"text {i}", server=A, author_id=f"a{i}") for i in range(5)]
    events.append(events[1])  # the same revision twice in one batch is one row
    recorded = await store.record_messages(events)
    assert [r.created for r in recorded] == [True] * 5 + [False]
    assert recorded[5].row_id == recorded[1].row_id
    for r, ev in zip(recorded, events):
        assert (await store.load_message(r.row_id))[0].text == ev.text
    from bot.store.repository import VerdictToSave

    items = [VerdictToSave(r.row_id, A, verdict(), False, i % 2 == 0) for i, r in enumerate(recorded[:5])]
    saved = await store.save_verdicts(items)
    for i, (verdict_id, case_id) in enumerate(saved):
        if i % 2 == 0:
            case = await store.get_case(A, case_id)
            assert case.event.author_id == f"a{i}" and case.verdict == verdict()
        else:
            assert case_id is None
