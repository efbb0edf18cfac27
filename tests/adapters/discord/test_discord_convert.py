"""The pure converters, fed with objects discord.py itself built from gateway payloads."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from adapters.discord_bot import invoker_from_interaction, is_platform_moderator, message_to_event, raw_edit_to_event
from bot.domain import Attachment, ContextMessage, ServerRef
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
