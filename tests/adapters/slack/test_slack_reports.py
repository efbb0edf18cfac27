"""The "Report to modbot" message shortcut: a real bolt ``message_action`` path against the loopback Slack."""

from __future__ import annotations

import json

from tests.adapters.slack.slack_harness import (
    ADMIN,
    MOD_CHANNEL,
    PLAYER,
    SERVER,
    harness,  # noqa: F401  (fixture)
    message_payload,
)

__all__ = ["harness"]


def _text(response: dict) -> str:
    return response.get("text", "") + json.dumps(response.get("blocks", []))


def _case_posts(harness) -> list:
    return [c for c in harness.mock.called("chat.postMessage") if c.args.get("channel") == MOD_CHANNEL]


async def _allowed(harness) -> dict:
    message = message_payload("dm me for cheap gold, totally legit", user=PLAYER)
    before = harness.adapter.counters.handled
    await harness.send_event(message)
    await harness.settle(before + 1)
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 0  # the bot let it through
    return message


async def test_a_member_is_refused_in_the_core_and_audited(harness):
    message = await _allowed(harness)
    response = await harness.message_shortcut(message, user=PLAYER)
    assert response["response_type"] == "ephemeral" and "Not allowed" in response["text"]
    assert _case_posts(harness) == []
    audit = await harness.services.storage.audit.audit_entries(SERVER)
    assert [(a.actor_id, a.command, a.allowed) for a in audit] == [(PLAYER, "report", False)]
    assert harness.adapter.counters.reports == 1


async def test_a_moderator_report_opens_one_case_in_the_mod_channel(harness):
    message = await _allowed(harness)

    first = await harness.message_shortcut(message, user=ADMIN)
    assert first["response_type"] == "ephemeral" and "Reported: case #1 opened" in first["text"]
    (post,) = _case_posts(harness)
    blocks = json.dumps(post.args.get("blocks"))
    assert "Case #1: flag" in blocks and "Found by" in blocks and "a moderator" in blocks
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert (case.event.message_id, case.event.channel_id, case.event.author_id) == (message["ts"], message["channel"], PLAYER)
    assert case.event.text == "dm me for cheap gold, totally legit"
    assert harness.mock.called("chat.delete") == []  # a report removes nothing by itself

    second = await harness.message_shortcut(message, user=ADMIN)
    assert "Already reported: case #1" in second["text"]
    assert len(_case_posts(harness)) == 1
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 1

    stats = await harness.command("stats 1")
    assert "Reported misses" in _text(stats) and "Prefilter recall (live estimate)" in _text(stats)
    assert "Backlog" in _text(stats) and "no reasoner configured" in _text(stats)


async def test_bot_posts_cannot_be_reported(harness):
    bot_post = {**message_payload("a bot says hi"), "bot_id": "BOTHER", "subtype": "bot_message"}
    response = await harness.message_shortcut(bot_post, user=ADMIN)
    assert "Cannot report this" in response["text"]
    assert (await harness.services.storage.cases.list_cases(SERVER)).total == 0
