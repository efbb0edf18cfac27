"""The pipeline end to end on a real SQLite file: record first, judge, decide, act; never lose a message."""

from __future__ import annotations

import asyncio

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import ActionKind, Decision, MessageStatus, ServerRef, Stage
from modbot.domain.records import IntakeStatus
from tests.conftest import event, make_settings
from tests.support.recording_sink import RecordingSink
from tests.support.scripted import ScriptedReasoner, by_keyword, garbage

SERVER = ServerRef("test", "g1")


async def build(tmp_path, reasoner=None, **settings_overrides):
    sink = RecordingSink()
    services = await build_services(
        make_settings(tmp_path, **settings_overrides), reasoner=reasoner, prefilter=None, sinks={"test": sink}
    )
    return services, sink


async def verdicts_of(services, row_id, server=SERVER):
    return await services.storage.verdicts.verdicts_for(server, row_id)


async def status_of(services, row_id):
    return (await services.storage.messages.load_message(row_id)).status


async def test_reasoner_violation_in_enforce_mode_removes_times_out_warns_and_posts_a_case(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services, sink = await build(tmp_path, reasoner)
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    intake = await services.pipeline.submit(event("selling aimbot, dm me"))
    assert intake.status is IntakeStatus.QUEUED
    await services.pipeline.drain(5)
    assert sink.kinds() == [ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE]
    case = sink.actions[-1].case
    assert case.verdict.decision is Decision.REMOVE and case.verdict.rule_ids == ("CH1",)
    assert case.verdict.stage is Stage.REASONER and case.verdict.reasoning == "scripted analysis"
    assert len(await services.storage.actions.actions_for_case(SERVER, case.id)) == 3
    await services.close()


async def test_act_now_keyword_rule_uses_its_severity_and_timeout(tmp_path):
    services, sink = await build(tmp_path, ScriptedReasoner())
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    await services.pipeline.submit(event("claim at free-nitro.example now"))
    await services.pipeline.drain(5)
    assert sink.kinds()[:2] == [ActionKind.DELETE, ActionKind.TIMEOUT]
    assert sink.actions[1].duration_s == 3600  # [timeouts] high = "1h"
    assert services.reasoner.calls == []  # acted on at once, no reasoner needed
    await services.close()


async def test_shadow_mode_records_verdicts_and_cases_but_takes_no_action(tmp_path):
    services, sink = await build(tmp_path, ScriptedReasoner(by_keyword({"aimbot": "CH1"})))
    await services.start()
    intake = await services.pipeline.submit(event("selling aimbot"))
    await services.pipeline.drain(5)
    assert sink.actions == []
    rows = await verdicts_of(services, intake.row_id)
    assert len(rows) == 1 and rows[0].decision is Decision.REMOVE
    assert (await services.storage.cases.list_cases(SERVER)).total == 1
    await services.close()


async def test_self_harm_escalates_for_support_and_never_punishes(tmp_path):
    services, sink = await build(tmp_path, ScriptedReasoner(by_keyword({"kill myself": "SH1"})))
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    await services.pipeline.submit(event("i want to kill myself"))
    await services.pipeline.drain(5)
    assert sink.kinds() == [ActionKind.POST_CASE]
    assert sink.actions[0].case.verdict.decision is Decision.ESCALATE
    await services.close()


async def test_exempt_roles_and_channels_are_skipped(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services, sink = await build(tmp_path, reasoner)
    await services.server_settings.update(SERVER, mode="enforce", exempt_role_ids=("staff",), exempt_channel_ids=("trading",))
    await services.start()
    a = await services.pipeline.submit(event("aimbot for sale", author_role_ids=("staff",)))
    b = await services.pipeline.submit(event("aimbot for sale", channel_id="trading"))
    await services.pipeline.drain(5)
    assert reasoner.calls == [] and sink.actions == []
    for intake in (a, b):
        assert await status_of(services, intake.row_id) == MessageStatus.SKIPPED
    await services.close()


async def test_edits_are_judged_again_but_the_same_content_never_twice(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services, _ = await build(tmp_path, reasoner)
    await services.start()
    first = await services.pipeline.submit(event("aimbot?", message_id="m-edit"))
    await services.pipeline.drain(5)
    duplicate = await services.pipeline.submit(event("aimbot?", message_id="m-edit"))
    assert duplicate.status is IntakeStatus.DUPLICATE
    edited = await services.pipeline.submit(event("aimbot for sale", message_id="m-edit", edited=True))
    await services.pipeline.drain(5)
    assert edited.status is IntakeStatus.QUEUED and edited.row_id != first.row_id
    assert [c.event.text for c in reasoner.calls] == ["aimbot?", "aimbot for sale"]
    await services.close()


async def test_a_full_queue_says_so_counts_it_and_loses_nothing(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services, _ = await build(tmp_path, reasoner, pipeline=PipelineSettings(queue_size=2, workers=1, sweep_interval_s=0.05))
    # Not started yet: nothing drains the queue, so the third message overflows.
    results = [await services.pipeline.submit(event(f"aimbot {i}")) for i in range(5)]
    assert [r.status for r in results].count(IntakeStatus.OVERFLOW) == 3
    assert services.pipeline.counters.overflowed == 3
    assert await services.storage.messages.count_messages(MessageStatus.PENDING) == 5
    await services.start()  # the sweeper picks the overflowed messages up
    for _ in range(100):
        if await services.storage.messages.count_messages(MessageStatus.JUDGED) == 5:
            break
        await asyncio.sleep(0.05)
    assert await services.storage.messages.count_messages(MessageStatus.JUDGED) == 5
    assert len(reasoner.calls) == 5
    await services.close()


async def test_pending_messages_survive_a_crash_and_are_resumed_on_start(tmp_path):
    services, _ = await build(tmp_path, ScriptedReasoner(by_keyword({"aimbot": "CH1"})))
    intake = await services.pipeline.submit(event("aimbot before the crash"))
    await services.close()  # "crash": workers never ran

    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services, _ = await build(tmp_path, reasoner)
    await services.start()
    await services.pipeline.drain(5)
    assert await status_of(services, intake.row_id) == MessageStatus.JUDGED
    assert len(reasoner.calls) == 1
    await services.close()


async def test_busy_reasoner_leaves_messages_pending_then_they_are_judged(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    reasoner.busy = True
    services, _ = await build(tmp_path, reasoner)
    await services.start()
    intake = await services.pipeline.submit(event("aimbot"))
    await services.pipeline.drain(5)
    assert await status_of(services, intake.row_id) == MessageStatus.PENDING
    assert services.pipeline.counters.deferred >= 1
    reasoner.busy = False
    for _ in range(100):
        if await status_of(services, intake.row_id) == MessageStatus.JUDGED:
            break
        await asyncio.sleep(0.05)
    assert await status_of(services, intake.row_id) == MessageStatus.JUDGED
    await services.close()


async def test_garbage_from_the_model_becomes_a_recorded_escalation(tmp_path):
    services, sink = await build(tmp_path, ScriptedReasoner(lambda request: garbage()))
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    intake = await services.pipeline.submit(event("aimbot"))
    await services.pipeline.drain(5)
    rows = await verdicts_of(services, intake.row_id)
    assert rows[0].decision is Decision.ESCALATE and rows[0].raw_output == "<garbage>" and rows[0].error
    assert sink.kinds() == [ActionKind.POST_CASE]
    await services.close()


async def test_a_crashing_reasoner_marks_the_message_failed_and_the_loop_goes_on(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    reasoner.fail_with = RuntimeError("model exploded")
    services, _ = await build(tmp_path, reasoner)
    await services.start()
    bad = await services.pipeline.submit(event("aimbot one"))
    await services.pipeline.drain(5)
    reasoner.fail_with = None
    good = await services.pipeline.submit(event("aimbot two"))
    await services.pipeline.drain(5)
    assert await status_of(services, bad.row_id) == MessageStatus.FAILED
    assert await status_of(services, good.row_id) == MessageStatus.JUDGED
    await services.close()


async def test_hostile_input_is_recorded_and_judged_without_crashing(tmp_path):
    services, _ = await build(tmp_path, ScriptedReasoner(by_keyword({"aimbot": "CH1"})))
    await services.start()
    texts = ["", "   ", "\u200b\u200b", "a" * 100_000, "aim\x00bot", "bad \ud800 surrogate", "\u202eaimbot"]
    intakes = [await services.pipeline.submit(event(t)) for t in texts]
    await services.pipeline.drain(10)
    for intake in intakes:
        assert intake.status is IntakeStatus.QUEUED
        assert await status_of(services, intake.row_id) == MessageStatus.JUDGED
    long_text = (await services.storage.messages.load_message(intakes[3].row_id)).event.text
    assert len(long_text) < 41_000 and long_text.endswith("too long to store in full]")
    assert "\x00" not in (await services.storage.messages.load_message(intakes[4].row_id)).event.text
    await services.close()


async def test_unknown_server_is_recorded_as_failed_when_auto_registration_is_off(tmp_path):
    services, _ = await build(tmp_path, None, pipeline=PipelineSettings(auto_register_servers=False))
    intake = await services.pipeline.submit(event("hello", server=ServerRef("test", "nobody")))
    assert intake.status is IntakeStatus.REJECTED and "unknown server" in intake.detail
    assert await status_of(services, intake.row_id) == MessageStatus.FAILED
    await services.close()


async def test_missing_permission_is_reported_to_moderators_once(tmp_path):
    sink = RecordingSink(refuse={ActionKind.DELETE})
    services = await build_services(
        make_settings(tmp_path), reasoner=ScriptedReasoner(by_keyword({"aimbot": "CH1"})), prefilter=None, sinks={"test": sink}
    )
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    for i in range(3):
        await services.pipeline.submit(event(f"aimbot {i}"))
    await services.pipeline.drain(5)
    assert sink.kinds().count(ActionKind.NOTIFY_MODS) == 1
    assert sink.kinds().count(ActionKind.DELETE) == 3
    await services.close()


async def test_server_specific_terms_add_to_the_policy_lists(tmp_path):
    from modbot.domain.settings import ServerTerms

    services, sink = await build(tmp_path, None)
    other = ServerRef("test", "g2")
    await services.server_settings.update(
        SERVER, mode="enforce", extra_terms=(ServerTerms(rule_id="SC1", keywords=("sketchy-shop",), act_on_match=True),)
    )
    await services.server_settings.update(other, mode="enforce")
    await services.start()
    await services.pipeline.submit(event("buy at sketchy-shop today"))
    await services.pipeline.submit(event("buy at sketchy-shop today", server=other))
    await services.pipeline.drain(5)
    assert [a.server for a in sink.actions if a.kind is ActionKind.DELETE] == [SERVER]
    await services.close()


async def test_enforced_actions_are_complete_and_their_platform_refs_are_stored(tmp_path):
    services, sink = await build(tmp_path, ScriptedReasoner(by_keyword({"aimbot": "CH1"})))
    await services.server_settings.update(SERVER, mode="enforce", mod_channel_id="mods")
    await services.start()
    await services.pipeline.submit(event("selling aimbot", thread_id="t9"))
    await services.pipeline.drain(5)
    delete, warn, post = sink.actions
    assert {a.mod_channel_id for a in sink.actions} == {"mods"} and {a.thread_id for a in sink.actions} == {"t9"}
    assert warn.member_notice == "• CH1: Selling or sharing cheats"
    case = await services.storage.cases.get_case(SERVER, post.case.id)
    assert case.posted_ref == "ref-3"
    recorded = await services.storage.actions.actions_for_case(SERVER, case.id)
    assert [(r.kind, r.platform_ref) for r in recorded] == [
        (ActionKind.DELETE, "ref-1"),
        (ActionKind.WARN, "ref-2"),
        (ActionKind.POST_CASE, "ref-3"),
    ]
    await services.close()


async def test_the_core_facade_is_what_adapters_see(tmp_path):
    from modbot.domain.commands import Invoker, ShowQueue

    services, _ = await build(tmp_path, ScriptedReasoner(by_keyword({"aimbot": "CH1"})))
    core = services.core
    newcomer = ServerRef("test", "new")
    await core.server_joined(newcomer, "New place")
    assert await services.storage.servers.server_exists(newcomer)
    await services.start()
    intake = await core.submit(event("selling aimbot", server=newcomer))
    assert intake.status is IntakeStatus.QUEUED
    await services.pipeline.drain(5)
    assert not await core.is_moderator(Invoker(newcomer, "member"))
    await services.server_settings.update(newcomer, moderator_role_ids=("helpers",))
    helper = Invoker(newcomer, "h", role_ids=("helpers",))
    assert await core.is_moderator(helper) and (await core.server_settings(newcomer)).moderator_role_ids == ("helpers",)
    reply = await core.execute(helper, ShowQueue())
    (listed,) = reply.cases
    assert (await core.case(newcomer, listed.id)).id == listed.id and await core.case(SERVER, listed.id) is None
    assert await core.case_actions(newcomer, listed.id) == []  # shadow mode: nothing done
    await services.close()
