"""The moderator command service: permission checks in the core, isolation, audit, every /mod verb."""

from __future__ import annotations

import pytest

from bot.commands import (
    CaseAction,
    CommandSyntaxError,
    Exempt,
    Forget,
    Help,
    Invoker,
    MemberHistory,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    Review,
    SetMode,
    SetModChannel,
    ShowCase,
    ShowQueue,
    ShowReasoning,
    Stats,
    parse_mod_command,
)
from bot.domain import ActionKind, ServerRef
from tests.conftest import TEST_POLICY, event
from tests.support.recording_sink import RecordingSink
from tests.support.scripted import ScriptedReasoner, by_keyword

A = ServerRef("test", "g1")
B = ServerRef("test", "g2")
MOD_A = Invoker(A, "mod-a", permissions=frozenset({"manage_messages"}))
MOD_B = Invoker(B, "mod-b", permissions=frozenset({"manage_messages"}))
MEMBER_A = Invoker(A, "member", role_ids=("everyone",))


@pytest.fixture
async def core(tmp_path):
    from bot.app import build_services
    from tests.conftest import make_settings

    sink = RecordingSink()
    services = await build_services(
        make_settings(tmp_path), reasoner=ScriptedReasoner(by_keyword({"aimbot": "CH1"})), prefilter=None, sinks={"test": sink}
    )
    await services.start()
    yield services, sink
    await services.close()


async def make_case(services, text="selling aimbot", server=A, author="cheater"):
    await services.pipeline.submit(event(text, server=server, author_id=author))
    await services.pipeline.drain(5)
    cases, _ = await services.store.list_cases(server)
    return cases[0]


async def test_non_moderators_are_refused_and_audited(core):
    services, _ = core
    for command in (PolicyShow(), SetMode("enforce"), ShowQueue(), Forget("x"), Review(1, "overturn")):
        reply = await services.moderators.execute(MEMBER_A, command)
        assert not reply.ok and reply.title == "Not allowed"
    assert (await services.server_settings.get(A)).mode == "shadow"
    audit = await services.store.audit_entries(A)
    assert len(audit) == 5 and not any(row.allowed for row in audit)


async def test_configured_moderator_role_is_enough(core):
    services, _ = core
    await services.server_settings.update(A, moderator_role_ids=("helpers",))
    reply = await services.moderators.execute(Invoker(A, "h", role_ids=("helpers",)), ShowQueue())
    assert reply.ok


async def test_upload_validates_with_line_numbers_then_activates(core):
    services, _ = core
    broken = TEST_POLICY.replace('severity = "medium"', 'severity = "nope"')
    reply = await services.moderators.execute(MOD_A, PolicyUpload(broken, "mine.md"))
    assert not reply.ok and "mine.md:" in reply.text and "nope" in reply.text
    own = TEST_POLICY.replace('id = "test-policy"', 'id = "house-rules"')
    reply = await services.moderators.execute(MOD_A, PolicyUpload(own, "house.md"))
    assert reply.ok and "in use" in reply.title
    assert (await services.policies.get(A)).id == "house-rules"
    assert (await services.policies.get(B)).id == "test-policy"
    # Guild B cannot switch to guild A's upload.
    reply = await services.moderators.execute(MOD_B, PolicyUse("house-rules"))
    assert not reply.ok
    reply = await services.moderators.execute(MOD_A, PolicyUse("test-policy"))
    assert reply.ok and (await services.policies.get(A)).id == "test-policy"
    show = await services.moderators.execute(MOD_A, PolicyShow())
    assert dict(show.fields)["Id"] == "test-policy" and "house-rules" in dict(show.fields)["Available"]


async def test_policy_test_judges_without_recording(core):
    services, _ = core
    reply = await services.moderators.execute(MOD_A, PolicyTest("anyone selling an aimbot?"))
    assert reply.ok and reply.verdict.rule_ids == ("CH1",)
    assert await services.store.count_messages() == 0


async def test_mode_and_exemptions_are_per_server(core):
    services, _ = core
    await services.moderators.execute(MOD_A, SetMode("enforce"))
    await services.moderators.execute(MOD_A, Exempt("role", "add", "staff"))
    await services.moderators.execute(MOD_A, Exempt("channel", "add", "c9"))
    await services.moderators.execute(MOD_A, Exempt("channel", "remove", "c9"))
    a, b = await services.server_settings.get(A), await services.server_settings.get(B)
    assert a.mode == "enforce" and a.exempt_role_ids == ("staff",) and a.exempt_channel_ids == ()
    assert b.mode == "shadow" and b.exempt_role_ids == ()


async def test_queue_case_history_review_and_isolation(core):
    services, _ = core
    for i in range(7):
        await services.pipeline.submit(event(f"aimbot #{i}", server=A, author_id="cheater" if i < 6 else "other"))
    await services.pipeline.drain(5)
    page1 = await services.moderators.execute(MOD_A, ShowQueue(1))
    page2 = await services.moderators.execute(MOD_A, ShowQueue(2))
    assert page1.pages == 2 and len(page1.cases) == 5 and len(page2.cases) == 2
    case_id = page1.cases[0].id
    shown = await services.moderators.execute(MOD_A, ShowCase(case_id))
    assert shown.ok and dict(shown.fields)["Rules"] == "CH1"
    # Another server's moderator can neither see nor review it.
    assert not (await services.moderators.execute(MOD_B, ShowCase(case_id))).ok
    assert not (await services.moderators.execute(MOD_B, Review(case_id, "overturn"))).ok
    assert (await services.moderators.execute(MOD_B, ShowQueue())).text == "No open cases."
    history = await services.moderators.execute(MOD_A, MemberHistory("cheater"))
    assert "6 cases" in history.title
    reply = await services.moderators.execute(MOD_A, Review(case_id, "overturn"))
    assert reply.ok and reply.case.status == "overturned"
    assert (await services.store.reviewed_examples(A))[0][1] is False
    stats = await services.moderators.execute(MOD_A, Stats(7))
    fields = dict(stats.fields)
    assert fields["Messages seen"] == "7" and fields["Overturned"] == "1" and fields["Open cases"] == "6"


async def test_case_buttons_timeout_ban_and_reasoning(core):
    services, sink = core
    case = await make_case(services)
    reply = await services.moderators.execute(MOD_A, CaseAction(case.id, "timeout", 300))
    assert reply.ok and sink.actions[-1].kind is ActionKind.TIMEOUT and sink.actions[-1].duration_s == 300
    assert sink.actions[-1].user_id == "cheater"
    reply = await services.moderators.execute(MOD_A, CaseAction(case.id, "ban"))
    assert reply.ok and sink.actions[-1].kind is ActionKind.BAN
    actions = await services.store.actions_for_case(A, case.id)
    assert [a.requested_by for a in actions] == ["mod-a", "mod-a"]
    reasoning = await services.moderators.execute(MOD_A, ShowReasoning(case.id))
    assert "scripted analysis" in reasoning.text


async def test_forget_erases_the_members_content(core):
    services, _ = core
    case = await make_case(services, author="leaver")
    reply = await services.moderators.execute(MOD_A, Forget("leaver"))
    assert reply.ok and "1 messages" in reply.text
    assert (await services.store.get_case(A, case.id)).event.text.startswith("[erased")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("policy show", PolicyShow()),
        ("policy test selling aimbot now", PolicyTest("selling aimbot now")),
        ("policy use game-community", PolicyUse("game-community")),
        ("mode enforce", SetMode("enforce")),
        ("queue", ShowQueue(1)),
        ("queue 3", ShowQueue(3)),
        ("case #12", ShowCase(12)),
        ("history <@U123|bob>", MemberHistory("U123")),
        ("history <@!42> 2", MemberHistory("42", 2)),
        ("exempt role add <@&99>", Exempt("role", "add", "99")),
        ("exempt channel remove <#C1|general>", Exempt("channel", "remove", "C1")),
        ("stats 30", Stats(30)),
        ("stats", Stats(7)),
        ("forget <@U9>", Forget("U9")),
        ("modchannel <#C77|mods>", SetModChannel("C77")),
        ("policy  upload\n+++\nid = 1", PolicyUpload("+++\nid = 1")),
        ("", Help()),
    ],
)
def test_parse_mod_command(text, expected):
    assert parse_mod_command(text) == expected


@pytest.mark.parametrize("text", ["mode loud", "queue x", "case", "exempt role add", "stats 9999", "frobnicate", "history <@U1> <@U2> x y"])
def test_parse_mod_command_errors_say_how_to_use_it(text):
    with pytest.raises(CommandSyntaxError) as info:
        parse_mod_command(text)
    assert str(info.value)
