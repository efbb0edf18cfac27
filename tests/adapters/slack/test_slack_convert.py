"""The pure converters: Slack payload shapes → MessageEvent, Slack markup → plain text, Block Kit output."""

from __future__ import annotations

from datetime import UTC, datetime

from modbot_adapters.slack_app import (
    action_id,
    case_blocks,
    mentions_to_ids,
    message_to_event,
    parse_action_id,
    reply_message,
    slack_to_plain,
)
from modbot_adapters.slack_app.commands import command_text
from modbot_adapters.slack_app.recent import RecentMessages
from modbot.domain.commands import Reply
from modbot.domain import ActionKind, ActionTaken, Case, CaseStatus, Decision, MessageEvent, ServerRef, Stage, Verdict

MESSAGE = {
    "type": "message",
    "channel": "C024BE91L",
    "user": "U2147483697",
    "text": "Live long and prosper <https://example.org|example.org> &amp; more",
    "ts": "1355517523.000005",
    "channel_type": "channel",
    "event_ts": "1355517523.000005",
}


def test_a_channel_message_becomes_an_event_with_plain_text():
    event = message_to_event(MESSAGE, "T1")
    assert event is not None
    assert event.server == ServerRef("slack", "T1")
    assert (event.channel_id, event.message_id, event.author_id) == ("C024BE91L", "1355517523.000005", "U2147483697")
    assert event.text == "Live long and prosper example.org & more"
    assert event.timestamp == datetime.fromtimestamp(1355517523.000005, tz=UTC)
    assert event.thread_id is None and not event.edited


def test_thread_replies_carry_the_thread():
    reply = {**MESSAGE, "ts": "1355517600.000001", "thread_ts": "1355517523.000005", "parent_user_id": "U1"}
    event = message_to_event(reply, "T1")
    assert event.thread_id == "1355517523.000005" and event.reply_to_id == "1355517523.000005"
    # The parent of a thread has thread_ts == ts: it is not "in" a thread.
    parent = message_to_event({**MESSAGE, "thread_ts": MESSAGE["ts"]}, "T1")
    assert parent.thread_id is None


def test_message_changed_is_an_edit_of_the_original_message():
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C024BE91L",
        "ts": "1358878755.000001",
        "event_ts": "1358878755.000001",
        "channel_type": "channel",
        "message": {"type": "message", "user": "U2147483697", "text": "now with free-nitro.example",
                    "ts": "1358877455.000010", "edited": {"user": "U2147483697", "ts": "1358878755.000000"}},
        "previous_message": {"type": "message", "user": "U2147483697", "text": "hello", "ts": "1358877455.000010"},
    }
    event = message_to_event(changed, "T1")
    assert event.edited and event.message_id == "1358877455.000010" and event.text == "now with free-nitro.example"
    # A link unfurl also arrives as message_changed, with the text unchanged: not an edit.
    unfurl = {**changed, "previous_message": {**changed["message"], "attachments": []}}
    assert message_to_event(unfurl, "T1") is None


def test_files_become_attachment_metadata():
    shared = {
        **MESSAGE,
        "subtype": "file_share",
        "text": "",
        "files": [{"id": "F1", "name": "free_aimbot.exe", "mimetype": "application/x-msdownload", "size": 52431,
                   "url_private": "https://files.slack.com/files-pri/T1-F1/free_aimbot.exe"},
                  {"id": "F2", "mode": "hidden_by_limit"}],
    }
    event = message_to_event(shared, "T1")
    assert event is not None and event.text == ""
    first, second = event.attachments
    assert (first.filename, first.content_type, first.size) == ("free_aimbot.exe", "application/x-msdownload", 52431)
    assert second.filename == "F2" and second.size is None


def test_what_is_not_a_members_channel_message_is_skipped():
    skipped = [
        {**MESSAGE, "bot_id": "B1", "subtype": "bot_message"},
        {**MESSAGE, "bot_id": "B1"},  # an app posting as a user
        {**MESSAGE, "user": "USLACKBOT"},
        {**MESSAGE, "channel_type": "im"},
        {**MESSAGE, "subtype": "channel_join", "text": "<@U1> has joined the channel"},
        {**MESSAGE, "subtype": "message_deleted", "hidden": True},
        {**MESSAGE, "text": "   "},
        {**MESSAGE, "ts": "not-a-ts"},
        {**MESSAGE, "user": None},
        {**MESSAGE, "type": "reaction_added"},
        {"type": "message", "subtype": "message_changed", "channel": "C1", "message": "garbage"},
        {"type": "message", "subtype": "message_changed", "channel": "C1",
         "message": {"type": "message", "bot_id": "B1", "text": "x", "ts": "1.1"}, "previous_message": {"text": "y"}},
        "not a dict",
    ]
    for payload in skipped:
        assert message_to_event(payload, "T1") is None, payload
    assert message_to_event(MESSAGE, "") is None


def test_private_channels_and_broadcast_replies_are_moderated():
    assert message_to_event({**MESSAGE, "channel_type": "group", "channel": "G1"}, "T1").channel_id == "G1"
    assert message_to_event({**MESSAGE, "subtype": "thread_broadcast", "thread_ts": "1.0"}, "T1").thread_id == "1.0"


def test_slack_markup_is_resolved_and_hidden_link_targets_shown():
    assert slack_to_plain("hi <@U123> in <#C1|general>, <!here> <!subteam^S1|@mods>") == "hi @U123 in #general, @here @mods"
    assert slack_to_plain("<https://evil.example/x|free nitro>") == "free nitro (https://evil.example/x)"
    assert slack_to_plain("<https://example.org>") == "https://example.org"
    assert slack_to_plain("<http://example.org|example.org>") == "example.org"
    assert slack_to_plain("a &lt;b&gt; &amp;lt; c") == "a <b> &lt; c"
    assert slack_to_plain(None) == ""  # type: ignore[arg-type]


def test_mentions_become_the_plain_ids_the_core_parses():
    assert mentions_to_ids("history <@U0SPAMMER|spammer> 2") == "history U0SPAMMER 2"
    assert mentions_to_ids("forget <@W123>") == "forget W123"
    assert mentions_to_ids("exempt channel add <#C0OFFTOPIC|off-topic>") == "exempt channel add C0OFFTOPIC"
    assert mentions_to_ids("exempt role add <!subteam^S0HELP|@helpers>") == "exempt role add S0HELP"
    # Not ids: special mentions and links stay as Slack sent them.
    assert mentions_to_ids("<!here> <https://x.example|x>") == "<!here> <https://x.example|x>"


def test_command_text_keeps_policy_documents_as_typed():
    assert command_text("history   <@U1|ann>").split() == ["history", "U1"]
    assert command_text("policy\ntest  hi <@U1|ann>") == "policy test hi <@U1|ann>"  # judged as written


def test_recent_messages_give_channel_or_thread_context():
    recent = RecentMessages(per_channel=5)
    base = dict(server=ServerRef("slack", "T1"), channel_id="C1")
    first = MessageEvent(message_id="100.000001", author_id="U1", text="one", **base)
    second = MessageEvent(message_id="100.000002", author_id="U2", text="two", **base)
    reply = MessageEvent(message_id="100.000003", author_id="U3", text="in thread", thread_id="100.000001", **base)
    for event in (first, second, reply):
        recent.note(event)
    third = MessageEvent(message_id="100.000004", author_id="U4", text="three", **base)
    assert [c.text for c in recent.before(third, 5)] == ["one", "two"]
    assert [c.text for c in recent.before(third, 1)] == ["two"]
    later_reply = MessageEvent(message_id="100.000005", author_id="U1", text="r2", thread_id="100.000001", **base)
    assert [c.text for c in recent.before(later_reply, 5)] == ["one", "in thread"]
    recent.note(MessageEvent(message_id="100.000002", author_id="U2", text="two (edited)", edited=True, **base))
    assert [c.text for c in recent.before(third, 5)] == ["one", "two (edited)"]
    assert recent.before(third, 0) == ()


def _case(text: str = "buy <!channel> cheats", status: CaseStatus = CaseStatus.OPEN) -> Case:
    event = MessageEvent(ServerRef("slack", "T1"), "C1", "1.000001", "U9", text)
    verdict = Verdict(Decision.REMOVE, Stage.REASONER, "sha256:abc", categories=("cheats",), rule_ids=("CH1",),
                      confidence=0.91, rationale="Sells <cheats>.")
    return Case(7, event, verdict, status=status)


def test_case_blocks_show_the_verdict_escape_member_text_and_carry_the_buttons():
    taken = [ActionTaken(ActionKind.DELETE, True), ActionTaken(ActionKind.TIMEOUT, False, "not on Slack"),
             ActionTaken(ActionKind.POST_CASE, True)]
    blocks = case_blocks(_case(), actions_taken=taken)
    flat = str(blocks)
    assert "delete: done" in flat and "timeout: not done (not on Slack)" in flat and "post_case" not in flat
    assert "&lt;!channel&gt;" in flat and "<!channel>" not in flat  # quoted text cannot ping anyone
    assert "<@" not in flat  # nor does the post mention its author
    assert "Sells &lt;cheats&gt;." in flat and "CH1" in flat and "sha256:abc" in flat and "reasoner" in flat
    buttons = blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["modbot:uphold:7", "modbot:overturn:7", "modbot:reasoning:7"]
    reviewed = case_blocks(_case(status=CaseStatus.OVERTURNED), reviewed_by="UMOD")
    assert [b["action_id"] for b in reviewed[-1]["elements"]] == ["modbot:reasoning:7"]
    assert "overturned by <@UMOD>" in str(reviewed)


def test_action_ids_round_trip_and_reject_strangers():
    assert parse_action_id(action_id("overturn", 12)).verb == "overturn"
    assert parse_action_id("modbot:queue:3").number == 3
    for bad in ("modbot:delete:1", "modbot:uphold:", "other:uphold:1", "modbot:uphold:1:2", ""):
        assert parse_action_id(bad) is None


def test_replies_render_within_block_kit_limits():
    long = Reply(True, "T" * 400, "x" * 10_000, fields=tuple((f"f{i}", "v" * 3000) for i in range(23)), ephemeral=False)
    rendered = reply_message(long)
    assert rendered["response_type"] == "in_channel"
    assert len(rendered["blocks"][0]["text"]["text"]) <= 150
    for block in rendered["blocks"]:
        if block.get("text"):
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", ()):
            assert len(field["text"]) <= 2000
        assert len(block.get("fields", ())) <= 10
    paged = reply_message(Reply(True, "Review queue", cases=(_case(),), page=2, pages=3), queue_pager=True)
    ids = [e["action_id"] for b in paged["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["modbot:queue:1", "modbot:queue:3"] and paged["response_type"] == "ephemeral"
