"""'Report to modbot' on a message: the real discord.py context-menu path against the loopback fake."""

from __future__ import annotations

from modbot.domain import Stage
from tests.adapters.discord import payloads as p
from tests.adapters.discord.harness import DEFERRED_CHANNEL_MESSAGE, SERVER, Harness, audit, interact

MENU = "Report to modbot"


async def _allowed_message(harness: Harness, text: str = "free skins at totally-legit.example, log in here") -> dict:
    await harness.services.server_settings.update(SERVER, mod_channel_id=p.MOD_CHANNEL_ID)
    message = p.message(text, author_id=p.SELLER_ID)
    await harness.send("MESSAGE_CREATE", message)
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 0  # the bot let it through
    return message


async def test_members_without_manage_messages_are_refused_by_the_core(harness: Harness) -> None:
    message = await _allowed_message(harness)

    answer = await interact(harness, p.message_command(MENU, message, user_id=p.MEMBER_ID, permissions=p.NO_PERMISSIONS))

    assert answer.callback.body["type"] == DEFERRED_CHANNEL_MESSAGE and answer.ephemeral
    assert answer.embed["title"] == "Not allowed"
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 0
    assert harness.fake.posted(p.MOD_CHANNEL_ID) == []
    assert (p.MEMBER_ID, "report", False) in await audit(harness)


async def test_a_moderator_report_opens_one_case_posted_to_the_mod_channel(harness: Harness) -> None:
    message = await _allowed_message(harness)

    first = await interact(harness, p.message_command(MENU, message))

    assert first.ephemeral
    assert first.embed["title"] == "Case #1 · flag"
    fields = first.fields
    assert fields["Stage"] == Stage.REPORT.value and fields["Found by"].startswith("a moderator's report")
    assert fields["Review"] == "Reported: case #1 opened"
    assert [custom_id for _, custom_id, _ in first.buttons()][:2] == ["modbot:uphold:1", "modbot:overturn:1"]
    (post,) = harness.fake.posted(p.MOD_CHANNEL_ID)
    assert post["embeds"][0]["title"] == "Case #1 · flag"
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case.event.message_id == message["id"] and case.event.author_id == p.SELLER_ID
    assert case.posted_ref == f"{p.MOD_CHANNEL_ID}/{post['id']}"
    assert harness.fake.calls("DELETE", rf"/channels/{p.GENERAL_ID}/messages/.*") == []  # nothing removed

    second = await interact(harness, p.message_command(MENU, message))

    assert second.embed["title"] == "Case #1 · flag" and second.fields["Review"] == "Already reported: case #1"
    assert len(harness.fake.posted(p.MOD_CHANNEL_ID)) == 1
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 1
    assert [row for row in await audit(harness) if row[1] == "report"] == [(p.MOD_ID, "report", True)] * 2


async def test_bots_messages_cannot_be_reported(harness: Harness) -> None:
    bot_post = p.message("I am another bot", author_id="1600000000000000001", bot=True)

    answer = await interact(harness, p.message_command(MENU, bot_post))

    assert answer.embed["title"] == "Cannot report this"
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 0
