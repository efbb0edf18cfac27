"""Message events through the real bolt app into the real core, acted on through the loopback Slack API."""

from __future__ import annotations

import json
import logging

from aiohttp.test_utils import TestClient, TestServer

from modbot_adapters.slack_app import NO_ADMIN_TOKEN
from modbot.domain import ActionKind
from tests.adapters.slack.slack_harness import (
    ADMIN_TOKEN,
    BOT_TOKEN,
    GENERAL,
    MOD_CHANNEL,
    PLAYER,
    SECRET,
    SERVER,
    event_envelope,
    harness,  # noqa: F401  (fixture)
    message_payload,
    next_ts,
    signed_headers,
    start_harness,
)

__all__ = ["harness"]


def _blocks(call) -> list[dict]:
    blocks = call.args.get("blocks")
    return json.loads(blocks) if isinstance(blocks, str) else blocks


async def _recorded(h, ts: str):
    stored = await h.services.storage.messages.recent_messages(SERVER, 1000)
    return next((m.event for m in stored if m.event.message_id == ts), None)


async def test_act_now_violation_is_deleted_with_the_admin_user_token_and_the_case_posted(harness):
    ts = next_ts()
    await harness.message("claim your prize at free-nitro.example now!!", ts=ts)

    deletes = harness.mock.called("chat.delete")
    assert len(deletes) == 1
    assert deletes[0].token == ADMIN_TOKEN  # not the bot token: that one can only delete the bot's own posts
    assert (deletes[0].args["channel"], deletes[0].args["ts"]) == (GENERAL, ts)

    ephemeral = harness.mock.called("chat.postEphemeral")
    assert len(ephemeral) == 1 and ephemeral[0].token == BOT_TOKEN
    assert ephemeral[0].args["user"] == PLAYER and "was removed" in ephemeral[0].args["text"]

    posts = harness.mock.called("chat.postMessage")
    assert len(posts) == 1 and posts[0].token == BOT_TOKEN and posts[0].args["channel"] == MOD_CHANNEL
    blocks = _blocks(posts[0])
    text = json.dumps(blocks)
    case = (await harness.services.storage.cases.list_cases(SERVER)).cases[0]
    assert f"Case #{case.id}: remove_and_timeout" in text
    assert "SC1" in text and case.verdict.policy_version in text and "keyword" in text
    assert "free-nitro.example" in text
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [f"modbot:uphold:{case.id}", f"modbot:overturn:{case.id}", f"modbot:reasoning:{case.id}"]
    assert "delete: done" in text and "timeout: not done" in text

    stored = await harness.services.storage.cases.get_case(SERVER, case.id)
    assert stored.posted_ref.startswith(f"{MOD_CHANNEL}/")
    actions = {row.kind: row for row in await harness.services.storage.actions.actions_for_case(SERVER, case.id)}
    assert actions[ActionKind.DELETE].ok and actions[ActionKind.POST_CASE].ok and actions[ActionKind.WARN].ok
    timeout = actions[ActionKind.TIMEOUT]
    assert not timeout.ok and "not available on Slack" in timeout.detail
    assert actions[ActionKind.POST_CASE].platform_ref == stored.posted_ref


async def test_without_an_admin_token_it_flags_and_notifies_once(tmp_path, caplog):
    h = await start_harness(tmp_path, admin_token=None)
    try:
        with caplog.at_level(logging.WARNING, logger="modbot_adapters.slack_app.adapter"):
            h.adapter._log_start()
        assert "CANNOT be deleted" in caplog.text

        await h.message("free-nitro.example for everyone")
        await h.message("again: free-nitro.example")
        assert h.mock.called("chat.delete") == []
        page = await h.services.storage.cases.list_cases(SERVER)
        assert page.total == 2
        for case in page.cases:
            delete = next(r for r in await h.services.storage.actions.actions_for_case(SERVER, case.id) if r.kind is ActionKind.DELETE)
            assert not delete.ok and delete.detail == NO_ADMIN_TOKEN and delete.detail.startswith("not deleted: no admin user token")
        posts = [c.args for c in h.mock.called("chat.postMessage")]
        case_posts = [p for p in posts if p.get("blocks")]
        notices = [p for p in posts if not p.get("blocks")]
        assert len(case_posts) == 2 and all(p["channel"] == MOD_CHANNEL for p in posts)
        assert len(notices) == 1 and "no admin user token" in notices[0]["text"]  # told once, not per message
        warned = h.mock.called("chat.postEphemeral")[0].args["text"]
        assert "flagged for the moderators" in warned
    finally:
        await h.services.close()
        await h.mock.stop()


async def test_a_retried_event_is_acted_on_once(harness):
    ts = next_ts()
    payload = message_payload("free-nitro.example giveaway", ts=ts)
    first = await harness.send_event(payload, event_id="Ev0RETRY01")
    retry = await harness.send_event(payload, event_id="Ev0RETRY01", retry_num=1)
    assert first.status == retry.status == 200  # acknowledged at once; Slack must not keep retrying
    await harness.settle(2)
    assert harness.adapter.counters.retries_dropped == 1

    # After a restart the adapter has forgotten the event id: the core's dedupe still holds.
    harness.adapter.intake._event_ids.clear()
    await harness.send_event(payload, event_id="Ev0RETRY01", retry_num=2)
    await harness.settle(3)
    assert harness.adapter.counters.duplicates == 1
    assert len(harness.mock.called("chat.delete")) == 1
    assert len([c for c in harness.mock.called("chat.postMessage") if c.args.get("blocks")]) == 1


async def test_an_edit_is_judged_again_and_deletes_the_original_message(harness):
    ts = next_ts()
    await harness.message("hello all", ts=ts)
    assert harness.mock.called("chat.delete") == []
    edit = {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": GENERAL, "ts": next_ts(),
        "channel_type": "channel",
        "message": {"type": "message", "user": PLAYER, "text": "hello all, free-nitro.example", "ts": ts,
                    "edited": {"user": PLAYER, "ts": "1700000999.000000"}},
        "previous_message": {"type": "message", "user": PLAYER, "text": "hello all", "ts": ts},
    }
    before = harness.adapter.counters.handled
    await harness.send_event(edit)
    await harness.settle(before + 1)
    deletes = harness.mock.called("chat.delete")
    assert len(deletes) == 1 and deletes[0].args["ts"] == ts
    assert (await harness.services.storage.cases.list_cases(SERVER)).cases[0].event.edited


async def test_bot_posts_exempt_channels_and_exempt_groups_are_not_moderated(harness):
    harness.mock.usergroups["SHELPERS"] = ["UHELPER"]
    await harness.services.server_settings.update(SERVER, exempt_channel_ids=("CEXEMPT",), exempt_role_ids=("SHELPERS", "UTRUSTED"))
    await harness.message("free-nitro.example", channel="CEXEMPT")
    await harness.message("free-nitro.example", user="UHELPER")
    await harness.message("free-nitro.example", user="UTRUSTED")  # a single member listed by user id
    await harness.message("free-nitro.example", bot_id="B0OTHER", subtype="bot_message")
    counters = harness.adapter.counters
    assert counters.exempt == 3 and counters.not_moderated == 1 and counters.submitted == 0
    assert await harness.services.storage.messages.count_messages() == 0
    assert harness.mock.called("chat.delete") == []


async def test_thread_replies_files_and_context_reach_the_core(harness):
    await harness.services.server_settings.update(SERVER, context_messages=2, mode="shadow")
    parent = next_ts()
    await harness.message("anyone up for ranked?", ts=parent, user="UONE")
    await harness.message("me", user="UTWO")
    reply_ts = next_ts()
    files = [{"id": "F1", "name": "config.cfg", "mimetype": "text/plain", "size": 120}]
    await harness.message("here is my cfg", ts=reply_ts, thread_ts=parent, files=files, subtype="file_share")
    event = await _recorded(harness, reply_ts)
    assert event.thread_id == parent and event.attachments[0].filename == "config.cfg"
    assert [c.text for c in event.context] == ["anyone up for ranked?"]  # the thread's parent, not the channel chatter
    assert event.author_role_ids == (PLAYER,)


async def test_signed_http_requests_only(harness):
    body = json.dumps(event_envelope(message_payload("free-nitro.example")))
    async with TestClient(TestServer(harness.adapter.web_app())) as client:
        bad = signed_headers(body, content_type="application/json", secret="not-the-secret")
        assert (await client.post("/slack/events", data=body, headers=bad)).status == 401
        stale = signed_headers(body, content_type="application/json", timestamp=1_500_000_000)
        assert (await client.post("/slack/events", data=body, headers=stale)).status == 401
        unsigned = {"content-type": "application/json"}
        assert (await client.post("/slack/events", data=body, headers=unsigned)).status == 401
        challenge = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
        ok = await client.post("/slack/events", data=challenge, headers=signed_headers(challenge, content_type="application/json"))
        assert ok.status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in await ok.text()
        assert (await client.get("/healthz")).status == 200
    assert harness.adapter.counters.message_events == 0
    assert SECRET not in body


async def test_an_unreadable_exempt_group_costs_one_api_call_not_one_per_message(harness):
    await harness.services.server_settings.update(SERVER, exempt_role_ids=("S0DELETED",), mode="shadow")
    await harness.message("hello")
    await harness.message("hello again")
    assert [c.args["usergroup"] for c in harness.mock.called("usergroups.users.list")] == ["S0DELETED"]
    assert harness.adapter.counters.submitted == 2



async def test_bolt_leaves_the_core_loggers_levels_alone(harness):
    # Bolt copies the root logger's level, per request, onto a logger named after the app; an app named
    # "modbot" froze every modbot.* logger at that level, so the core's INFO lines (retries, ...) vanished.
    core_logger = logging.getLogger("modbot")
    assert core_logger.level == logging.NOTSET
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.ERROR)
    try:
        response = await harness.send_event(message_payload("hello there", ts=next_ts()), event_id="Ev0LOGGERS")
    finally:
        root.setLevel(saved)
    assert response.status == 200
    assert core_logger.level == logging.NOTSET
