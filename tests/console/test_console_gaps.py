"""The console's Settings page sets the audit share and retention (``/mod set``), and its Policy page
replays a stored candidate over the server's stored messages (``/mod policy replay``): over real HTTP on
loopback against the real core, the same commands typed in chat, and their refusals."""

from __future__ import annotations

import pytest

from modbot.commands.parser import CommandSyntaxError, parse_mod_command
from modbot.domain.commands import Invoker, PolicyReplay, SetValue
from modbot.domain.policy import parse_policy
from tests.conftest import TEST_POLICY, event
from tests.console.fake_oauth import MANAGE_MESSAGES, OAuthUser, guild
from tests.console.harness import GUILD_A, SERVER_A, SERVER_B, Console, csrf_of

MOD = OAuthUser("910", "noor", [guild(GUILD_A, "Raid Night", MANAGE_MESSAGES)])
PREFIX = f"/servers/discord/{GUILD_A}"

#: The test policy with cheat selling only flagged (not removed) and a new act-now rule for gold selling.
CANDIDATE = TEST_POLICY.replace('title = "Test policy"', 'title = "Test policy, softer on cheats"').replace(
    'severity = "medium"\nkeywords = ["aimbot", "wallhack"]', 'severity = "low"\nkeywords = ["aimbot", "wallhack"]'
).replace(
    "[[categories]]\nid = \"self_harm\"",
    '[[categories.rules]]\nid = "GD1"\ndescription = "Gold selling"\nseverity = "medium"\n'
    'keywords = ["cheap gold"]\nact_on_match = true\n[[categories]]\nid = "self_harm"',
)


def test_set_and_replay_parse_with_their_usage() -> None:
    assert parse_mod_command("set audit_share 0.05") == SetValue("audit_share", "0.05")
    assert parse_mod_command("set Retention_Days 30") == SetValue("retention_days", "30")
    assert parse_mod_command("policy replay sha256:abcd") == PolicyReplay("sha256:abcd", 200)
    assert parse_mod_command("policy replay test-policy 50") == PolicyReplay("test-policy", 50)
    for bad in ("set audit_share", "policy replay", "policy replay x 5000", "policy replay x 0"):
        with pytest.raises(CommandSyntaxError):
            parse_mod_command(bad)


async def test_chat_set_checks_bounds_and_is_audited(console: Console) -> None:
    core = console.services.core
    mod = Invoker(SERVER_A, "910", platform_moderator=True)
    member = Invoker(SERVER_A, "911")
    assert (await core.execute(member, parse_mod_command("set audit_share 0.5"))).title == "Not allowed"
    done = await core.execute(mod, parse_mod_command("set audit_share 5%"))
    assert done.ok and "5.0 %" in done.text
    assert (await core.execute(mod, parse_mod_command("set retention_days 30"))).ok
    for line, says in (
        ("set audit_share 1.5", "audit_share must be from 0 to 1"),
        ("set audit_share lots", "audit_share must be a number"),
        ("set retention_days 0", "retention_days must be from 1 to 3650"),
        ("set retention_days 2.5", "whole number of days"),
        ("set mode enforce", "unknown setting 'mode'"),
    ):
        refused = await core.execute(mod, parse_mod_command(line))
        assert not refused.ok and says in refused.text, (line, refused.text)
    settings = await core.server_settings(SERVER_A)
    assert (settings.audit_share, settings.retention_days, settings.mode) == (0.05, 30, "shadow")
    audit = await console.services.storage.audit.audit_entries(SERVER_A, limit=20)
    assert [(row.actor_id, row.allowed) for row in audit if row.command == "set"].count(("911", False)) == 1


async def test_settings_page_sets_audit_share_and_retention(console: Console) -> None:
    async with console.client() as client:
        await console.login(client, MOD)
        page = await client.get(PREFIX + "/settings")
        assert 'id="audit-share"' in page.text and 'value="0.02"' in page.text and 'value="90"' in page.text
        token = csrf_of(page)
        form = {"csrf": token, "op": "set"}
        saved = await client.post(PREFIX + "/settings", data={**form, "setting": "audit_share", "value": "0.1"})
        assert "audit_share: 0.1" in saved.text and 'value="0.1"' in saved.text
        kept = await client.post(PREFIX + "/settings", data={**form, "setting": "retention_days", "value": "14"})
        assert "retention_days: 14" in kept.text and 'value="14"' in kept.text
        refused = await client.post(PREFIX + "/settings", data={**form, "setting": "retention_days", "value": "99999"})
        assert "retention_days must be from 1 to 3650 days" in refused.text
        # Only these two settings: anything else is an incomplete form, and nothing changes.
        other = await client.post(PREFIX + "/settings", data={**form, "setting": "mode", "value": "enforce"})
        assert other.status_code == 400
        assert (await client.post(PREFIX + "/settings", data={"op": "set", "setting": "audit_share", "value": "1"})).status_code == 403
    settings = await console.services.core.server_settings(SERVER_A)
    assert (settings.audit_share, settings.retention_days, settings.mode) == (0.1, 14, "shadow")


async def test_policy_page_replays_a_candidate_on_stored_messages(console: Console) -> None:
    services = console.services
    # Judged by the real pipeline with the live policy: two cheat sellers removed (opened in the fixture),
    # two messages allowed by the scripted reasoner.
    for text in ("cheap gold, 1000 for 2$", "gg everyone"):
        await services.core.submit(event(text, server=SERVER_A, author_id="556", channel_id="777"))
    await services.pipeline.drain(timeout=10)
    candidate = parse_policy(CANDIDATE)
    await services.policies.upload(SERVER_A, candidate, by="test")
    live = await services.policies.get(SERVER_A)
    assert candidate.version != live.version

    async with console.client() as client:
        await console.login(client, MOD)
        page = await client.get(PREFIX + "/policy")
        assert 'id="replay-ref"' in page.text and f'value="{candidate.version}"' in page.text
        token = csrf_of(page)
        shown = await client.post(
            PREFIX + "/policy", data={"csrf": token, "op": "replay", "ref": candidate.version, "last": "200"}
        )
        assert shown.status_code == 200, shown.text
        text = shown.text
        assert "Replay of test-policy" in text
        assert '<dt>Compared</dt><dd class="pre">4</dd>' in text
        assert '<dt>Newly removed</dt><dd class="pre">1</dd>' in text
        assert '<dt>No longer removed</dt><dd class="pre">2</dd>' in text
        assert '<dt>Changed</dt><dd class="pre">0</dd>' in text
        assert "cheap gold" in text and "private aimbot for sale" in text  # the examples
        # The newest message only: the allowed "gg everyone" is compared, nothing changes.
        one = await client.post(PREFIX + "/policy", data={"csrf": token, "op": "replay", "ref": candidate.version, "last": "1"})
        assert '<dt>Compared</dt><dd class="pre">1</dd>' in one.text and '<dt>Newly removed</dt><dd class="pre">0</dd>' in one.text
        too_many = await client.post(PREFIX + "/policy", data={"csrf": token, "op": "replay", "ref": candidate.version, "last": "5000"})
        assert too_many.status_code == 400
        unknown = await client.post(PREFIX + "/policy", data={"csrf": token, "op": "replay", "ref": "sha256:0000"})
        assert "sha256:0000" in unknown.text and "is stored for this server (upload it first)" in unknown.text

    # Never acts, never writes verdicts: the live policy, the cases and the verdicts are as they were.
    assert (await services.policies.get(SERVER_A)).version == live.version
    judged = await services.storage.verdicts.judged_messages(SERVER_A, 50)
    assert len(judged) == 4 and all(row.live and row.live.policy_version == live.version for row in judged)
    assert (await services.core.list_cases(SERVER_A)).total == 2
    audit = await services.storage.audit.audit_entries(SERVER_A, limit=20)
    assert ("policy replay", "910", True) in {(row.command, row.actor_id, row.allowed) for row in audit}


async def test_replay_is_refused_to_a_member(console: Console) -> None:
    reply = await console.services.core.execute(Invoker(SERVER_A, "912"), PolicyReplay("test-policy"))
    assert reply.title == "Not allowed"


async def test_case_page_notes_about_the_member_are_stored_per_server_and_audited(console: Console) -> None:
    core = console.services.core
    async with console.client() as client:
        await console.login(client, MOD)
        page = await client.get(PREFIX + "/cases/1")
        assert "Notes about this member" in page.text and "No notes yet." in page.text
        token = csrf_of(page)
        added = await client.post(PREFIX + "/cases/1/note", data={"csrf": token, "text": "  warned in DMs\nabout   cheat ads "})
        assert added.status_code == 200 and "Note added about 555" in added.text
        assert "by 910: warned in DMs about cheat ads" in added.text
        # The same member's other case shows the note too (it is about the member, not the case).
        assert "warned in DMs about cheat ads" in (await client.get(PREFIX + "/cases/2")).text
        too_long = await client.post(PREFIX + "/cases/1/note", data={"csrf": token, "text": "x" * 501})
        assert "at most 500 characters" in too_long.text
        assert (await client.post(PREFIX + "/cases/1/note", data={"text": "forged"})).status_code == 403
    # Typed in chat: listed; the other server has no notes about the same member id.
    listed = await core.execute(Invoker(SERVER_A, "913", platform_moderator=True), parse_mod_command("note 555"))
    assert listed.ok and listed.text.endswith("by 910: warned in DMs about cheat ads")
    other = await core.execute(Invoker(SERVER_B, "913", platform_moderator=True), parse_mod_command("note 555"))
    assert other.text == "No notes yet."
    assert (await core.execute(Invoker(SERVER_A, "914"), parse_mod_command("note 555 sneaky"))).title == "Not allowed"
    notes = await console.services.storage.member_notes.notes_for(SERVER_A, "555")
    assert [(n.author_id, n.text) for n in notes] == [("910", "warned in DMs about cheat ads")]
    audit = await console.services.storage.audit.audit_entries(SERVER_A, limit=30)
    assert {("note", "910", True), ("note", "914", False)} <= {(r.command, r.actor_id, r.allowed) for r in audit}
