"""The pure converters, fed with objects discord.py itself built from gateway payloads."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from modbot_adapters.discord_bot import invoker_from_interaction, is_platform_moderator, message_to_event, raw_edit_to_event
from modbot.domain import Attachment, ContextMessage, ServerRef
from tests.adapters.discord import payloads as p
from tests.adapters.discord.harness import Harness


async def parsed(harness: Harness, gateway_event: str, data: dict[str, Any], listen: str) -> Any:
    """Feed a payload through discord.py's parser and return what it dispatched (via ``wait_for``)."""
    waiter = asyncio.create_task(harness.client.wait_for(listen))
    await asyncio.sleep(0)  # wait_for registers its listener when it starts
    harness.feed(gateway_event, data)
    result = await asyncio.wait_for(waiter, 5)
    await harness.settle()
    return result


async def test_guild_message_becomes_an_event_with_roles_attachments_and_reply(harness: Harness) -> None:
    url = "https://cdn.discordapp.com/attachments/1/2/screenshot.png"
    shot = p.attachment(p.snowflake(), "screenshot.png", url, 2048, "image/png")
    data = p.message("look at this", roles=[p.VIP_ROLE_ID, p.MOD_ROLE_ID], attachments=[shot], reply_to="1234567890")
    message = await parsed(harness, "MESSAGE_CREATE", data, "message")

    event = message_to_event(message, (ContextMessage("1", "earlier"),))

    assert event is not None
    assert event.server == ServerRef("discord", p.GUILD_ID)
    assert (event.channel_id, event.thread_id) == (p.GENERAL_ID, None)
    assert (event.message_id, event.author_id, event.text) == (data["id"], p.MEMBER_ID, "look at this")
    assert set(event.author_role_ids) == {p.VIP_ROLE_ID, p.MOD_ROLE_ID}
    assert event.attachments == (Attachment("screenshot.png", "image/png", 2048, url),)
    assert event.reply_to_id == "1234567890"
    assert event.context == (ContextMessage("1", "earlier"),)
    assert event.edited is False
    assert event.timestamp.tzinfo is not None


async def test_forum_post_keeps_the_parent_as_channel_and_the_post_as_thread(harness: Harness) -> None:
    message = await parsed(harness, "MESSAGE_CREATE", p.message("need 2 for raid", channel_id=p.THREAD_ID), "message")

    event = message_to_event(message)

    assert event is not None
    assert event.channel_id == p.FORUM_ID
    assert event.thread_id == p.THREAD_ID


async def test_bots_webhooks_direct_and_system_messages_are_not_judged(harness: Harness) -> None:
    skipped = {
        "bot": p.message("beep", bot=True),
        "webhook": p.message("from a webhook", webhook_id="1700000000000000001"),
        "dm": p.message("hi bot", guild_id=None),
        "member joined (system message)": p.message("", message_type=7),
    }
    for why, data in skipped.items():
        message = await parsed(harness, "MESSAGE_CREATE", data, "message")
        assert message_to_event(message) is None, why
    assert await harness.stored_events() == []


async def test_raw_edit_of_an_uncached_message_is_an_edited_event(harness: Harness) -> None:
    data = p.message("selling cheats now", message_id=p.snowflake(), edited=True)
    payload = await parsed(harness, "MESSAGE_UPDATE", data, "raw_message_edit")

    assert payload.cached_message is None
    event = raw_edit_to_event(payload)

    assert event is not None
    assert event.edited is True
    assert event.text == "selling cheats now"
    assert event.message_id == data["id"]


async def test_raw_edit_that_keeps_the_text_is_ignored_and_a_changed_text_is_not(harness: Harness) -> None:
    original = p.message("gg everyone")
    await parsed(harness, "MESSAGE_CREATE", original, "message")  # now in discord.py's message cache

    same = await parsed(harness, "MESSAGE_UPDATE", {**original, "edited_timestamp": p.now_iso()}, "raw_message_edit")
    new_text = {**original, "content": "gg, buy my aimbot", "edited_timestamp": p.now_iso()}
    changed = await parsed(harness, "MESSAGE_UPDATE", new_text, "raw_message_edit")

    assert same.cached_message is not None
    assert raw_edit_to_event(same) is None
    event = raw_edit_to_event(changed)
    assert event is not None and event.text == "gg, buy my aimbot" and event.edited


async def test_invoker_carries_discords_resolved_permissions_and_roles(harness: Harness) -> None:
    moderator = await parsed(harness, "INTERACTION_CREATE", p.slash("stats", roles=[p.MOD_ROLE_ID]), "interaction")
    admin = await parsed(harness, "INTERACTION_CREATE", p.slash("stats", permissions=str(1 << 3)), "interaction")
    member = await parsed(harness, "INTERACTION_CREATE", p.slash("stats", user_id=p.MEMBER_ID, permissions="0"), "interaction")

    invoker = invoker_from_interaction(moderator)
    assert invoker.server == ServerRef("discord", p.GUILD_ID)
    assert invoker.user_id == p.MOD_ID
    assert invoker.role_ids == (p.MOD_ROLE_ID,)
    assert invoker.platform_moderator  # the payload's default permissions include Manage Messages
    # Administrator implies every permission; Discord sends just that bit.
    assert invoker_from_interaction(admin).platform_moderator
    assert not invoker_from_interaction(member).platform_moderator


def test_discords_moderator_flags_make_a_platform_moderator() -> None:
    for flag in ("manage_messages", "moderate_members", "administrator"):
        assert is_platform_moderator(discord.Permissions(**{flag: True})), flag
    assert not is_platform_moderator(discord.Permissions(send_messages=True, ban_members=True, kick_members=True))
    assert not is_platform_moderator(discord.Permissions.none())


async def test_a_message_in_an_uncached_thread_keeps_its_parent_so_exemptions_apply(harness: Harness) -> None:
    from modbot.domain import MessageStatus

    server = ServerRef("discord", p.GUILD_ID)
    hidden = p.snowflake()  # a thread the gateway never announced (e.g. an old archived one woken up)
    harness.fake.channels[hidden] = p.thread(hidden, p.FORUM_ID, "old raid thread", p.MEMBER_ID)
    await harness.services.server_settings.update(server, exempt_channel_ids=(p.FORUM_ID,))

    message = await parsed(harness, "MESSAGE_CREATE", p.message("gg all", channel_id=hidden), "message")
    assert isinstance(message.channel, discord.PartialMessageable)  # discord.py lost the parent
    assert message_to_event(message).channel_id == hidden  # what the plain conversion would store
    await harness.settle()

    stored = await harness.services.storage.messages.recent_messages(server, 10)
    assert [(s.event.channel_id, s.event.thread_id) for s in stored] == [(p.FORUM_ID, hidden)]
    assert [s.status for s in stored] == [MessageStatus.SKIPPED]  # the parent's exemption applied
    # Asked once: a second message in the same thread is resolved from memory.
    lookups = [r for r in harness.fake.requests if r.method == "GET" and r.path == f"/channels/{hidden}"]
    await harness.send("MESSAGE_CREATE", p.message("another", channel_id=hidden))
    again = [r for r in harness.fake.requests if r.method == "GET" and r.path == f"/channels/{hidden}"]
    assert len(lookups) == 1 and len(again) == 1


async def test_an_uncached_channel_that_cannot_be_looked_up_is_kept_as_it_came(harness: Harness) -> None:
    server = ServerRef("discord", p.GUILD_ID)
    unknown = p.snowflake()  # the fake answers 404 for it
    await harness.send("MESSAGE_CREATE", p.message("hello", channel_id=unknown))
    stored = await harness.services.storage.messages.recent_messages(server, 10)
    assert [(s.event.channel_id, s.event.thread_id) for s in stored] == [(unknown, None)]


# --- forwarded messages (message_snapshots) ---------------------------------------------------------


async def test_a_forwarded_message_is_judged_as_the_authors_text_with_its_attachments(harness: Harness) -> None:
    from modbot_adapters.discord_bot.convert import FORWARD_MARK

    url = "https://cdn.discordapp.com/attachments/1/2/cheats.zip"
    zip_file = p.attachment(p.snowflake(), "cheats.zip", url, 4096, "application/zip")
    data = p.forwarded_message("selling aimbot, dm me", forwarded_attachments=[zip_file])
    message = await parsed(harness, "MESSAGE_CREATE", data, "message")
    assert message.content == "" and len(message.message_snapshots) == 1  # discord.py's own view

    event = message_to_event(message)

    assert event is not None
    assert event.text == f"{FORWARD_MARK}\nselling aimbot, dm me"
    assert event.attachments == (Attachment("cheats.zip", "application/zip", 4096, url),)
    assert event.reply_to_id is None  # the reference names the forwarded message, not a reply


async def test_a_forward_with_a_comment_keeps_the_comment_first(harness: Harness) -> None:
    from modbot_adapters.discord_bot.convert import FORWARD_MARK

    data = p.forwarded_message("free nitro here", text="lol look at this")
    event = message_to_event(await parsed(harness, "MESSAGE_CREATE", data, "message"))

    assert event is not None
    assert event.text == f"lol look at this\n{FORWARD_MARK}\nfree nitro here"


async def test_a_forward_of_only_an_attachment_is_not_an_empty_message(harness: Harness) -> None:
    from modbot_adapters.discord_bot.convert import FORWARD_MARK

    shot = p.attachment(p.snowflake(), "shot.png", "https://cdn.discordapp.com/a/shot.png", 10, "image/png")
    data = p.forwarded_message("", forwarded_attachments=[shot])
    event = message_to_event(await parsed(harness, "MESSAGE_CREATE", data, "message"))

    assert event is not None
    assert event.text == FORWARD_MARK
    assert [a.filename for a in event.attachments] == ["shot.png"]


async def test_a_forwarded_slur_is_acted_on_by_the_keyword_stage(harness: Harness) -> None:
    from modbot.domain.policy import parse_policy
    from modbot.stages.keywords import KeywordMatcher
    from tests.adapters.discord.harness import game_policy_text

    matcher = KeywordMatcher.build(parse_policy(game_policy_text()))
    event = message_to_event(await parsed(harness, "MESSAGE_CREATE", p.forwarded_message("you nigger"), "message"))

    assert event is not None
    assert any(hit.rule_id == "HT1" for hit in matcher.scan(event.text).hits if hit.act_on_match)


async def test_a_forwarded_message_reaches_the_pipeline_with_its_text(harness: Harness) -> None:
    await harness.send("MESSAGE_CREATE", p.forwarded_message("wts aimbot keys"))

    events = await harness.stored_events()

    assert [e.text.splitlines()[-1] for e in events] == ["wts aimbot keys"]
