"""MessageLog: revisions recorded as pending, read back, swept, erased on request."""

from __future__ import annotations

from modbot.domain import MessageStatus
from modbot.domain.records import StoredMessage, VerdictToSave
from modbot.store.messages import ERASED
from tests.store.factories import A, B, message, open_case, record, verdict


async def test_message_is_pending_until_judged_and_verdict_keeps_everything(storage):
    ev = message("selling aimbot", author_role_ids=("r1",))
    recorded = (await storage.messages.record_messages([ev]))[0]
    assert recorded.created and recorded.status is MessageStatus.PENDING
    again = (await storage.messages.record_messages([ev]))[0]
    assert not again.created and again.row_id == recorded.row_id
    assert await storage.messages.load_message(recorded.row_id) == StoredMessage(recorded.row_id, ev, MessageStatus.PENDING)

    saved = await storage.verdicts.save_verdicts([VerdictToSave(recorded.row_id, A, verdict(), False, True)])
    case = await storage.cases.get_case(A, saved[0].case_id)
    assert case.verdict == verdict()  # every field survives the round trip
    assert case.verdict.tokens.prompt_evaluated == 40
    assert (await storage.messages.load_message(recorded.row_id)).status is MessageStatus.JUDGED
    assert (await storage.messages.record_messages([ev]))[0].status is MessageStatus.JUDGED
    assert await storage.verdicts.has_verdict(recorded.row_id, "sha256:v1")
    assert not await storage.verdicts.has_verdict(recorded.row_id, "sha256:v2")


async def test_an_edit_is_a_new_revision(storage):
    first = await record(storage.messages, message("hello", message_id="m1"))
    edited = (await storage.messages.record_messages([message("hello edited", message_id="m1", edited=True)]))[0]
    assert first != edited.row_id and edited.created
    assert (await storage.messages.load_message(edited.row_id)).event.edited


async def test_a_batch_keeps_input_order_and_one_row_per_revision(storage):
    events = [message(f"text {i}", author_id=f"a{i}") for i in range(5)]
    events.append(events[1])  # the same revision twice in one batch is one row
    recorded = await storage.messages.record_messages(events)
    assert [r.created for r in recorded] == [True] * 5 + [False]
    assert recorded[5].row_id == recorded[1].row_id
    for r, ev in zip(recorded, events):
        assert (await storage.messages.load_message(r.row_id)).event.text == ev.text
    assert await storage.messages.record_messages([]) == []


async def test_status_changes_counts_and_the_pending_sweep(storage):
    ids = [await record(storage.messages, message(f"m {i}")) for i in range(4)]
    assert await storage.messages.count_messages() == 4
    assert await storage.messages.pending_message_ids(10) == ids
    assert await storage.messages.pending_message_ids(2, exclude={ids[0]}) == ids[1:3]
    assert await storage.messages.pending_message_ids(10, min_age_s=3600) == []  # all just recorded

    await storage.messages.set_message_status(ids[0], MessageStatus.FAILED, "boom")
    await storage.messages.set_message_status(ids[1], MessageStatus.SKIPPED, "exempt role")
    assert await storage.messages.count_messages(MessageStatus.PENDING) == 2
    assert await storage.messages.count_messages(MessageStatus.FAILED) == 1
    assert (await storage.messages.load_message(ids[1])).status is MessageStatus.SKIPPED
    assert await storage.messages.pending_message_ids(10) == ids[2:]
    assert await storage.messages.load_message(10_000) is None


async def test_recent_messages_are_the_newest_oldest_first(storage):
    ids = [await record(storage.messages, message(f"m {i}")) for i in range(3)]
    recent = await storage.messages.recent_messages(A, limit=2)
    assert [m.row_id for m in recent] == ids[1:]
    assert [m.event.text for m in recent] == ["m 1", "m 2"]
    assert all(m.status is MessageStatus.PENDING for m in recent)


async def test_forget_member_erases_content_but_keeps_decisions(storage):
    case_id = await open_case(storage.messages, storage.verdicts, message("my address is 1 Main St", author_id="victim"))
    other = await record(storage.messages, message("same author elsewhere", server=B, author_id="victim"))
    assert await storage.messages.forget_member(A, "victim") == 1
    assert await storage.messages.forget_member(A, "nobody") == 0
    case = await storage.cases.get_case(A, case_id)
    assert case.event.text == ERASED and case.verdict.rationale == ERASED and case.verdict.reasoning == ""
    assert case.verdict.decision is verdict().decision
    assert (await storage.messages.load_message(other)).event.text == "same author elsewhere"


async def test_forget_also_erases_the_members_words_quoted_as_context_elsewhere(storage):
    from modbot.domain import ContextMessage
    from modbot.store.messages import ERASED
    from tests.store.factories import A, B, message

    quoting = message("reply", author_id="other", context=(ContextMessage("gone", "secret"), ContextMessage("x", "kept")))
    elsewhere = message("reply", server=B, author_id="other", context=(ContextMessage("gone", "secret b"),))
    ids = [r.row_id for r in await storage.messages.record_messages([quoting, elsewhere, message("mine", author_id="gone")])]
    assert await storage.messages.forget_member(A, "gone") == 1
    kept = (await storage.messages.load_message(ids[0])).event
    assert kept.text == "reply" and kept.context == (ContextMessage("gone", ERASED), ContextMessage("x", "kept"))
    assert (await storage.messages.load_message(ids[1])).event.context == (ContextMessage("gone", "secret b"),)
