"""The moderator command service: permission checks in the core, isolation, audit, every /mod verb."""

from __future__ import annotations

import pytest

from modbot.domain import ActionKind, CaseStatus, ServerRef
from modbot.domain.commands import (
    CaseAction,
    Exempt,
    Forget,
    Invoker,
    MemberHistory,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    Review,
    SetMode,
    ShowCase,
    ShowQueue,
    ShowReasoning,
    Stats,
)
from modbot.domain.records import LabelledText
from tests.conftest import TEST_POLICY, event
from tests.support.recording_sink import RecordingSink
from tests.support.scripted import ScriptedReasoner, by_keyword

A = ServerRef("test", "g1")
B = ServerRef("test", "g2")
MOD_A = Invoker(A, "mod-a", platform_moderator=True)
MOD_B = Invoker(B, "mod-b", platform_moderator=True)
MEMBER_A = Invoker(A, "member", role_ids=("everyone",))


@pytest.fixture
async def core(tmp_path):
    from modbot.app import build_services
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
    return (await services.storage.cases.list_cases(server)).cases[0]


async def test_non_moderators_are_refused_and_audited(core):
    services, _ = core
    for command in (PolicyShow(), SetMode("enforce"), ShowQueue(), Forget("x"), Review(1, "overturn")):
        reply = await services.moderators.execute(MEMBER_A, command)
        assert not reply.ok and reply.title == "Not allowed"
    assert (await services.server_settings.get(A)).mode == "shadow"
    audit = await services.storage.audit.audit_entries(A)
    assert len(audit) == 5 and not any(entry.allowed for entry in audit)
    assert "moderator role set for this server" in reply.text and "Discord" not in reply.text


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
    # An upload must pass `policy lint` (issue 14): the sections the safeguard guide asks for.
    reply = await services.moderators.execute(MOD_A, PolicyUpload(own, "house.md"))
    assert not reply.ok and "lint errors" in reply.title and "missing definitions" in reply.text
    own += (
        "## Definitions\n- **Cheat**: software giving an unfair advantage.\n## Criteria\n"
        "### cheats\n- **CH1**: selling cheats.\n### scams\n- **SC1**: scam links.\n"
        "### self_harm\n- **SH1**: a member may hurt themselves.\n"
        '## Examples\n- "selling aimbot" → 1, cheats, CH1\n## Output format\nOne JSON object.\n'
    )
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
    assert await services.storage.messages.count_messages() == 0


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
    assert reply.ok and reply.case.status is CaseStatus.OVERTURNED
    assert (await services.storage.cases.reviewed_examples(A))[0].violation is False
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
    actions = await services.storage.actions.actions_for_case(A, case.id)
    assert [a.requested_by for a in actions] == ["mod-a", "mod-a"]
    reasoning = await services.moderators.execute(MOD_A, ShowReasoning(case.id))
    assert "scripted analysis" in reasoning.text


async def test_forget_erases_the_members_content(core):
    services, _ = core
    case = await make_case(services, author="leaver")
    reply = await services.moderators.execute(MOD_A, Forget("leaver"))
    assert reply.ok and "1 messages" in reply.text
    assert (await services.storage.cases.get_case(A, case.id)).event.text.startswith("[erased")


async def test_a_refused_command_from_an_unknown_server_does_not_register_it(core):
    services, _ = core
    stranger = ServerRef("test", "never-seen")
    reply = await services.moderators.execute(Invoker(stranger, "member"), ShowQueue())
    assert not reply.ok
    assert not await services.storage.servers.server_exists(stranger)
    assert [entry.allowed for entry in await services.storage.audit.audit_entries(stranger)] == [False]
    allowed = await services.moderators.execute(Invoker(stranger, "mod", platform_moderator=True), ShowQueue())
    assert allowed.ok and await services.storage.servers.server_exists(stranger)


class RecordingPrefilter:
    """The prefilter port at the model edge: scores nothing, keeps the feedback it is given."""

    def __init__(self):
        self.feedback: list[tuple[ServerRef, str, bool]] = []
        self.loaded: dict[ServerRef, list[LabelledText]] = {}
        self.languages = frozenset({"en"})

    async def score(self, policy, event, normalized_text, *, community=None):
        from modbot.ports import PrefilterScore

        return PrefilterScore(0.5, model="recording")

    def thresholds_for(self, community):
        return None

    async def add_feedback(self, server, text, violation):
        self.feedback.append((server, text, violation))

    async def load_feedback(self, server, items):
        self.loaded[server] = list(items)
        return len(self.loaded[server])

    async def aclose(self):
        pass


async def test_ban_or_timeout_after_overturn_is_an_action_not_a_review(tmp_path):
    from modbot.app import build_services
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    sink, prefilter = RecordingSink(), RecordingPrefilter()
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services = await build_services(settings, reasoner=reasoner, prefilter=prefilter, sinks={"test": sink})
    await services.start()
    case = await make_case(services)
    assert (await services.moderators.execute(MOD_A, Review(case.id, "overturn"))).ok
    assert (await services.moderators.execute(MOD_A, CaseAction(case.id, "ban"))).ok
    assert (await services.moderators.execute(MOD_A, CaseAction(case.id, "timeout"))).ok
    assert (await services.storage.cases.get_case(A, case.id)).status is CaseStatus.OVERTURNED
    assert prefilter.feedback == [(A, "selling aimbot", False)]
    actions = await services.storage.actions.actions_for_case(A, case.id)
    assert [(a.kind, a.requested_by) for a in actions] == [(ActionKind.BAN, "mod-a"), (ActionKind.TIMEOUT, "mod-a")]
    assert actions[1].duration_s == settings.server_defaults.default_timeout_s
    stats = dict((await services.moderators.execute(MOD_A, Stats(7))).fields)
    assert stats["Overturned"] == "1" and stats["Upheld"] == "0"
    await services.close()

    # The next start replays the reviews into the prefilter: still "not a violation".
    restarted = RecordingPrefilter()
    services = await build_services(settings, reasoner=None, prefilter=restarted, sinks={"test": sink})
    assert restarted.loaded == {A: [LabelledText("selling aimbot", False)]}
    await services.close()


async def test_moderator_actions_are_complete_and_notify_in_the_mod_channel(tmp_path):
    from modbot.app import build_services
    from tests.conftest import make_settings

    sink = RecordingSink(refuse={ActionKind.BAN})
    services = await build_services(
        make_settings(tmp_path), reasoner=ScriptedReasoner(by_keyword({"aimbot": "CH1"})), prefilter=None, sinks={"test": sink}
    )
    await services.start()
    await services.server_settings.update(A, mod_channel_id="mods")
    case = await make_case(services)
    reply = await services.moderators.execute(MOD_A, CaseAction(case.id, "ban"))
    assert not reply.ok and "403" in reply.text
    ban, notice = sink.actions
    assert ban.kind is ActionKind.BAN and ban.user_id == "cheater" and ban.mod_channel_id == "mods" and ban.duration_s is None
    assert notice.kind is ActionKind.NOTIFY_MODS and notice.mod_channel_id == "mods" and "ban" in notice.reason
    await services.close()
