"""``/mod`` slash commands and case buttons: INTERACTION_CREATE payloads through discord.py's parser.

Each test asserts on what the bot answered (the deferral, then the edited response) and on the
core's state (settings, policies, cases, the audit log).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from modbot.domain import ActionKind, CaseStatus
from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import (
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    SERVER,
    Harness,
    audit,
    game_policy_text,
    interact,
    make_harness,
    slash,
    upload_payload,
    user_option,
)

# -- policy ------------------------------------------------------------------------------------------


async def test_policy_show_defers_privately_then_answers(harness: Harness) -> None:
    answer = await slash(harness, "policy show")

    assert answer.callback.body["type"] == DEFERRED_CHANNEL_MESSAGE and answer.ephemeral
    assert answer.embed["title"] == "Policy: Test policy"
    assert answer.fields["Id"] == "test-policy"
    assert "CH1" in answer.fields["Categories and rules"]


async def test_policy_upload_downloads_the_attachment_and_activates_it(harness: Harness) -> None:
    answer = await interact(harness, upload_payload(harness, "game-community.md", game_policy_text().encode()))

    assert harness.fake.calls("GET", "/cdn/game-community.md")
    assert answer.embed["title"].endswith("uploaded and in use"), answer.embed
    policy = await harness.services.policies.get(SERVER)
    assert answer.fields["Version"] == policy.version
    assert policy.text == game_policy_text()


async def test_policy_upload_rejects_binary_and_broken_documents_clearly(harness: Harness) -> None:
    binary = await interact(harness, upload_payload(harness, "logo.png", b"\x89PNG\r\n\x1a\n\xff\xfe"))
    broken = await interact(harness, upload_payload(harness, "policy.md", b"+++\nid = \"x\"\n+++\nno categories\n"))

    assert binary.embed["title"] == "Could not do that" and "not UTF-8 text" in binary.embed["description"]
    assert broken.embed["title"] == "The policy has a mistake"
    assert (await harness.services.policies.get(SERVER)).id == "test-policy"


async def test_policy_use_and_test(harness: Harness) -> None:
    await interact(harness, upload_payload(harness, "game-community.md", game_policy_text().encode()))

    use = await slash(harness, "policy use", [p.option("policy", 3, "test-policy")])
    test = await slash(harness, "policy test", [p.option("text", 3, "selling my aimbot, dm me")])

    assert use.embed["title"] == "Now using test-policy"
    assert (await harness.services.policies.get(SERVER)).id == "test-policy"
    assert test.embed["title"] == "Test verdict: remove"
    assert test.fields["Rules"] == "CH1"
    assert await harness.stored_events() == []  # a policy test records nothing


# -- settings ----------------------------------------------------------------------------------------


async def test_mode_is_announced_publicly(harness: Harness) -> None:
    answer = await slash(harness, "mode", [p.option("mode", 3, "enforce")])

    assert not answer.ephemeral
    assert answer.embed["title"] == "Mode: enforce"
    assert (await harness.services.server_settings.get(SERVER)).mode == "enforce"


async def test_modchannel_sets_where_cases_are_posted(harness: Harness) -> None:
    channel = {
        "channels": {
            p.MOD_CHANNEL_ID: {"id": p.MOD_CHANNEL_ID, "type": 0, "name": "mod-log", "permissions": "0", "parent_id": None}
        }
    }
    answer = await slash(harness, "modchannel", [p.option("channel", 7, p.MOD_CHANNEL_ID)], resolved=channel)

    assert answer.embed["title"] == "Mod channel set"
    assert (await harness.services.server_settings.get(SERVER)).mod_channel_id == p.MOD_CHANNEL_ID


async def test_exempt_role_and_channel_add_and_remove(harness: Harness) -> None:
    role = {"roles": {p.VIP_ROLE_ID: p.role(p.VIP_ROLE_ID, "VIP", 1)}}
    forum = {"channels": {p.FORUM_ID: {"id": p.FORUM_ID, "type": 15, "name": "lfg", "permissions": "0", "parent_id": None}}}

    await slash(harness, "exempt role", [p.option("action", 3, "add"), p.option("role", 8, p.VIP_ROLE_ID)], resolved=role)
    await slash(harness, "exempt channel", [p.option("action", 3, "add"), p.option("channel", 7, p.FORUM_ID)], resolved=forum)
    added = await harness.services.server_settings.get(SERVER)
    removed_answer = await slash(
        harness, "exempt role", [p.option("action", 3, "remove"), p.option("role", 8, p.VIP_ROLE_ID)], resolved=role
    )
    removed = await harness.services.server_settings.get(SERVER)

    assert added.exempt_role_ids == (p.VIP_ROLE_ID,)
    assert added.exempt_channel_ids == (p.FORUM_ID,)
    assert removed.exempt_role_ids == () and removed.exempt_channel_ids == (p.FORUM_ID,)
    assert removed_answer.embed["title"] == "Exempt roles"


# -- cases -------------------------------------------------------------------------------------------


async def _open_cases(harness: Harness, count: int) -> None:
    """Shadow mode: each cheat-selling message becomes an open case, nothing is acted on."""
    for index in range(count):
        await harness.send("MESSAGE_CREATE", p.message(f"selling aimbot keys #{index}", author_id=p.SELLER_ID))


async def test_queue_is_paginated_with_buttons(harness: Harness) -> None:
    await _open_cases(harness, 7)

    first = await slash(harness, "queue")

    assert first.embed["title"] == "Review queue (7 open)"
    assert len(first.embed["fields"]) == 5 and first.embed["footer"]["text"] == "page 1/2"
    assert first.buttons() == [("◀ Previous", "modbot:queue:0", True), ("Next ▶", "modbot:queue:2", False)]

    shown = p.bot_message(p.snowflake(), p.MOD_CHANNEL_ID, {**first.edits[-1].body, "flags": EPHEMERAL})
    second = await interact(harness, p.button_click("modbot:queue:2", shown))

    assert second.callback.body["type"] == DEFERRED_UPDATE_MESSAGE
    assert second.embed["footer"]["text"] == "page 2/2"
    assert len(second.embed["fields"]) == 2
    assert second.buttons() == [("◀ Previous", "modbot:queue:1", False), ("Next ▶", "modbot:queue:3", True)]


async def test_case_history_stats_and_forget(harness: Harness) -> None:
    await _open_cases(harness, 2)
    member, resolved = user_option(p.SELLER_ID)

    case = await slash(harness, "case", [p.option("id", 4, 1)])
    history = await slash(harness, "history", [member], resolved=resolved)
    stats = await slash(harness, "stats", [p.option("days", 4, 30)])
    forget = await slash(harness, "forget", [member], resolved=resolved)
    help_ = await slash(harness, "help")

    assert case.embed["title"] == "Case #1 · remove"
    assert "selling aimbot keys #0" in case.embed["description"]
    assert ("Overturn", "modbot:overturn:1", False) in case.buttons()
    assert history.embed["title"] == f"History of {p.SELLER_ID} (2 cases)"
    assert stats.embed["title"] == "Last 30 days" and stats.fields["Messages seen"] == "2"
    assert forget.embed["title"] == f"Forgot {p.SELLER_ID}"
    assert all(e.author_id != p.SELLER_ID or "selling" not in e.text for e in await harness.stored_events())
    assert "/mod queue" in help_.embed["description"]


# -- who may run /mod ---------------------------------------------------------------------------------


async def test_a_non_moderator_is_refused_and_audited(harness: Harness) -> None:
    stats = await slash(harness, "stats", user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS)
    mode = await slash(harness, "mode", [p.option("mode", 3, "enforce")], user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS)
    evil = upload_payload(harness, "evil.md", game_policy_text().encode(), user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS)
    upload = await interact(harness, evil)

    for answer in (stats, mode, upload):
        assert answer.embed["title"] == "Not allowed"
    # The public "thinking" of /mod mode is replaced by a private refusal.
    assert mode.deleted_original
    assert mode.followups[-1].body["flags"] & EPHEMERAL
    assert (await harness.services.server_settings.get(SERVER)).mode == "shadow"
    assert not harness.fake.calls("GET", "/cdn/evil.md"), "a non-moderator's upload is never downloaded"
    assert await audit(harness) == [
        (p.MEMBER_ID, "mode", False),
        (p.MEMBER_ID, "policy upload", False),
        (p.MEMBER_ID, "stats", False),
    ]


async def test_a_configured_moderator_role_is_enough(harness: Harness) -> None:
    await harness.services.server_settings.update(SERVER, moderator_role_ids=(p.MOD_ROLE_ID,))

    answer = await slash(harness, "stats", user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS, roles=[p.MOD_ROLE_ID])

    assert answer.embed["title"] == "Last 7 days"
    assert await audit(harness) == [(p.MEMBER_ID, "stats", True)]


async def test_a_moderator_of_another_guild_cannot_see_this_guilds_cases(harness: Harness) -> None:
    await _open_cases(harness, 1)

    answer = await slash(harness, "case", [p.option("id", 4, 1)], guild_id=p.OTHER_GUILD_ID)

    assert answer.embed["title"] == "Could not do that"
    assert "no case #1" in answer.embed["description"]
    assert "selling" not in str(answer.edits[-1].body)


# -- case buttons -------------------------------------------------------------------------------------


async def _posted_case(harness: Harness) -> dict[str, Any]:
    """Enforce mode: a cheat-selling message is removed and its case posted; returns the post."""
    await harness.services.server_settings.update(SERVER, mode="enforce", mod_channel_id=p.MOD_CHANNEL_ID, warn_users=False)
    await harness.send("MESSAGE_CREATE", p.message("selling aimbot, 5$ a week", author_id=p.SELLER_ID))
    (post,) = harness.fake.posted(p.MOD_CHANNEL_ID)
    return post


async def test_uphold_records_the_review_and_updates_the_post(harness: Harness) -> None:
    post = await _posted_case(harness)

    answer = await interact(harness, p.button_click("modbot:uphold:1", post))

    assert answer.callback.body["type"] == DEFERRED_UPDATE_MESSAGE
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case is not None and case.status is CaseStatus.UPHELD
    (edit,) = answer.edits
    fields = {f["name"]: f["value"] for f in edit.body["embeds"][0]["fields"]}
    assert fields["Status"] == "upheld" and fields["Review"] == f"uphold by <@{p.MOD_ID}>"
    assert answer.followups[-1].body["flags"] & EPHEMERAL
    assert answer.followup_embed["title"] == "Case #1 upheld"


async def test_timeout_and_ban_buttons_act_on_the_author(harness: Harness) -> None:
    post = await _posted_case(harness)
    await harness.services.server_settings.update(SERVER, default_timeout_s=120)
    before = datetime.now(timezone.utc)

    timeout = await interact(harness, p.button_click("modbot:timeout:1", post))
    ban = await interact(harness, p.button_click("modbot:ban:1", post))

    assert timeout.followup_embed["title"] == "Timeout done for case #1"
    assert ban.followup_embed["title"] == "Ban done for case #1"
    (patch,) = harness.fake.calls("PATCH", rf"/guilds/{p.GUILD_ID}/members/{p.SELLER_ID}")
    # The button names no duration: the core fills in the server's default before the sink sees it.
    until = datetime.fromisoformat(patch.body["communication_disabled_until"])
    assert timedelta(seconds=110) < until - before < timedelta(seconds=130)
    assert harness.fake.calls("PUT", rf"/guilds/{p.GUILD_ID}/bans/{p.SELLER_ID}")
    kinds = [r.kind for r in await harness.services.storage.actions.actions_for_case(SERVER, 1)]
    assert ActionKind.TIMEOUT in kinds and ActionKind.BAN in kinds
    # An enforcement action is not a review: the case stays open.
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case is not None and case.status is CaseStatus.OPEN


async def test_show_reasoning_is_private_and_leaves_the_post_alone(harness: Harness) -> None:
    post = await _posted_case(harness)

    answer = await interact(harness, p.button_click("modbot:reasoning:1", post))

    assert answer.edits == []
    assert answer.followups[-1].body["flags"] & EPHEMERAL
    assert answer.followup_embed["title"] == "Reasoning for case #1 (moderators only)"
    assert "scripted analysis" in answer.followup_embed["description"]


async def test_a_non_moderators_click_is_refused(harness: Harness) -> None:
    post = await _posted_case(harness)

    answer = await interact(harness, p.button_click("modbot:ban:1", post, user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS))

    assert answer.followup_embed["title"] == "Not allowed"
    assert answer.edits == []
    assert not harness.fake.calls("PUT", r"/guilds/\d+/bans/\d+")
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case is not None and case.status is CaseStatus.OPEN
    assert await audit(harness) == [(p.MEMBER_ID, "case action", False)]


async def test_buttons_work_after_a_restart(fake: FakeDiscord, tmp_path: Path) -> None:
    """Case buttons are understood by a new process that never saw the post (persistent custom ids)."""
    first = await make_harness(fake, tmp_path)
    try:
        post = await _posted_case(first)
    finally:
        await first.services.close()

    second = await make_harness(fake, tmp_path)  # same database, a brand-new client
    try:
        answer = await interact(second, p.button_click("modbot:overturn:1", post))
        case = await second.services.storage.cases.get_case(SERVER, 1)
    finally:
        await second.services.close()

    assert answer.followup_embed["title"] == "Case #1 overturned"
    assert case is not None and case.status is CaseStatus.OVERTURNED


async def test_an_outdated_command_gets_a_private_answer(harness: Harness) -> None:
    """A command Discord still shows but this version no longer has (before the sync caught up)."""
    interaction = p.slash("policy rewrite")

    await harness.send("INTERACTION_CREATE", interaction)

    (callback,) = harness.fake.calls("POST", rf"/interactions/{interaction['id']}/.*/callback")
    assert callback.body["type"] == 4  # an immediate message
    assert callback.body["data"]["flags"] & EPHEMERAL
    assert "out of date" in callback.body["data"]["content"]
