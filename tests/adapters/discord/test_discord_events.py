"""Gateway events through the real client into the real pipeline; start-up over a fake gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modbot_adapters.discord_bot import DiscordAdapter, MissingMessageContentIntent, build_intents, invite_url
from modbot.app import Services, build_services
from modbot.domain import ContextMessage, MessageStatus
from tests.adapters.discord import payloads as p
from tests.adapters.discord.harness import SERVER, Harness, cheat_reasoner, discord_settings
from tests.adapters.discord.fake_discord import FakeDiscord


async def test_messages_edits_and_thread_posts_reach_the_pipeline(harness: Harness) -> None:
    first = p.message("anyone up for ranked?", roles=[p.VIP_ROLE_ID])
    await harness.send("MESSAGE_CREATE", first)
    await harness.send("MESSAGE_CREATE", p.message("raid at 9?", channel_id=p.THREAD_ID))
    # An edit of a message discord.py never cached (sent before the bot started).
    await harness.send("MESSAGE_UPDATE", p.message("wts aimbot keys", message_id="1100000000000000777", edited=True))
    await harness.send("MESSAGE_CREATE", p.message("beep", bot=True))

    events = await harness.stored_events()

    assert [(e.text, e.channel_id, e.thread_id, e.edited) for e in events] == [
        ("anyone up for ranked?", p.GENERAL_ID, None, False),
        ("raid at 9?", p.FORUM_ID, p.THREAD_ID, False),
        ("wts aimbot keys", p.GENERAL_ID, None, True),
    ]
    assert events[0].author_role_ids == (p.VIP_ROLE_ID,)
    assert all(e.server == SERVER for e in events)


async def test_exempt_roles_and_channels_are_skipped_by_the_core(harness: Harness) -> None:
    await harness.services.server_settings.update(SERVER, exempt_role_ids=(p.VIP_ROLE_ID,), exempt_channel_ids=(p.FORUM_ID,))

    await harness.send("MESSAGE_CREATE", p.message("selling cheats", roles=[p.VIP_ROLE_ID]))
    await harness.send("MESSAGE_CREATE", p.message("selling cheats", channel_id=p.THREAD_ID))

    assert await harness.statuses() == [MessageStatus.SKIPPED, MessageStatus.SKIPPED]
    assert harness.fake.calls("DELETE", r"/channels/.*") == []


async def test_preceding_messages_are_fetched_as_context_when_the_server_wants_them(harness: Harness) -> None:
    await harness.services.server_settings.update(SERVER, context_messages=2)
    harness.fake.history[p.GENERAL_ID] = [
        p.message("who has the cheap stuff", author_id=p.SELLER_ID),
        p.message("", author_id=p.MEMBER_ID),  # an image only: no text to show
        p.message("me, dm me", author_id=p.MEMBER_ID),
    ]
    current = p.message("how much?")

    await harness.send("MESSAGE_CREATE", current)

    (request,) = harness.fake.calls("GET", rf"/channels/{p.GENERAL_ID}/messages")
    assert request.query["limit"] == "2"
    assert request.query["before"] == current["id"]
    (event,) = await harness.stored_events()
    # Oldest first; messages without text are left out.
    assert event.context == (ContextMessage(p.MEMBER_ID, "me, dm me"),)


async def test_no_context_is_fetched_by_default(harness: Harness) -> None:
    await harness.send("MESSAGE_CREATE", p.message("hello"))
    assert harness.fake.calls("GET", rf"/channels/{p.GENERAL_ID}/messages") == []


# -- start-up over the fake gateway ----------------------------------------------------------------


async def _serve(
    fake: FakeDiscord, tmp_path: Path, **discord_options: object
) -> tuple[Services, DiscordAdapter, asyncio.Task[None]]:
    services = await build_services(discord_settings(tmp_path, **discord_options), reasoner=cheat_reasoner(), prefilter=None)
    adapter = DiscordAdapter(services.core, services.settings.discord)
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    await services.start()
    return services, adapter, asyncio.create_task(adapter.run())


async def _wait_for_stored(services: Services, count: int) -> None:
    for _ in range(500):
        if await services.storage.messages.count_messages() >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the message never reached the store")


@pytest.mark.parametrize("sharded", [False, True], ids=["client", "auto-sharded"])
async def test_run_identifies_with_message_content_syncs_commands_and_serves(
    fake: FakeDiscord, tmp_path: Path, sharded: bool
) -> None:
    services, adapter, running = await _serve(fake, tmp_path, sharded=sharded, command_guild_ids=(int(p.GUILD_ID),))
    try:
        identify = await fake.wait_identified()
        assert identify["intents"] == build_intents().value
        assert identify["intents"] & (1 << 15), "MESSAGE_CONTENT must be requested"
        assert identify["intents"] & (1 << 9) and identify["intents"] & 1, "GUILD_MESSAGES and GUILDS"
        assert identify["token"] == "fake-token"
        if sharded:
            assert fake.calls("GET", "/gateway/bot"), "the auto-sharded client asks Discord for the shard count"
            assert identify["shard"] == [0, 1]

        # Commands were published to the configured guild at once, not globally.
        (sync,) = fake.calls("PUT", rf"/applications/{p.APP_ID}/guilds/{p.GUILD_ID}/commands")
        group, menu = sync.body
        assert group["name"] == "mod"
        assert int(group["default_member_permissions"]) == 1 << 13  # Manage Messages
        assert group["contexts"] == [0] and group["dm_permission"] is False  # guild only
        # The message menu "Report to modbot" is gated the same way.
        assert (menu["name"], menu["type"]) == ("Report to modbot", 3)
        assert int(menu["default_member_permissions"]) == 1 << 13 and menu["contexts"] == [0]
        assert fake.calls("PUT", rf"/applications/{p.APP_ID}/commands") == []

        await asyncio.sleep(0.05)  # READY and GUILD_CREATE are read
        await fake.dispatch("MESSAGE_CREATE", p.message("gg wp"))
        await _wait_for_stored(services, 1)
    finally:
        await services.close()
        await asyncio.wait_for(running, 5)
    assert adapter.client.is_closed()


async def test_missing_message_content_intent_is_a_clear_startup_error(fake: FakeDiscord, tmp_path: Path) -> None:
    fake.gateway.close_code = 4014
    services, adapter, running = await _serve(fake, tmp_path)
    try:
        with pytest.raises(MissingMessageContentIntent) as raised:
            await asyncio.wait_for(running, 10)
    finally:
        await services.close()
    message = str(raised.value)
    assert "4014" in message
    assert "Message Content Intent" in message and "Developer Portal" in message


def test_invite_url_asks_for_both_scopes_and_the_needed_permissions() -> None:
    url = invite_url(p.APP_ID)
    assert "scope=bot%20applications.commands" in url
    assert f"client_id={p.APP_ID}" in url
    assert "permissions=1374389627908" in url
