"""Hostile text at the platform edges: mention floods ping nobody, forwarded messages are judged.

Discord: real gateway payloads through discord.py's parser into the real core, actions through the
real sink against the loopback fake API. Slack and the HTTP API: their real case renderers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modbot_adapters.http_api.sink import callback_body, callback_payload
from modbot_adapters.slack_app.blocks import case_message
from modbot.domain import Action, ActionKind, Case, Decision, MessageEvent, ServerRef, Stage, Verdict
from modbot.domain.settings import ServerSettings
from tests.adapters.discord import payloads as p
from tests.adapters.discord.conftest import fake  # noqa: F401  (the loopback Discord API fixture)
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import Harness, make_harness

#: Every way to ping many people at once on Discord and Slack, plus a role and a user mention.
FLOOD = "@everyone @here <@&1500000000000000009> <@!1300000000000000003> <!channel> <!here> <!everyone> <!subteam^S1>"
#: An act-now hit of the shared test policy (SC1, severity high: removed with a timeout).
SCAM = "claim at free-nitro.example"


@pytest.fixture
async def harness(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Harness]:  # noqa: F811
    defaults = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id=p.MOD_CHANNEL_ID)
    built = await make_harness(fake, tmp_path, server_defaults=defaults)
    try:
        yield built
    finally:
        await built.services.close()


def _bot_posts(harness: Harness) -> list[dict]:
    return [call.body for call in harness.fake.calls("POST", r"/channels/\d+/messages")]


def _assert_pings_nobody_but(posts: list[dict], author_id: str) -> None:
    for body in posts:
        mentions = body.get("allowed_mentions")
        assert mentions is not None, body
        assert mentions.get("parse") == [] and not mentions.get("roles"), mentions
        assert {str(u) for u in mentions.get("users") or []} <= {author_id}, mentions
        assert not mentions.get("replied_user")


@pytest.mark.parametrize("forwarded", [False, True], ids=["typed", "forwarded"])
async def test_a_mention_flood_scam_is_acted_on_and_its_case_post_pings_nobody(harness: Harness, forwarded: bool):
    text = f"{FLOOD} {SCAM}"
    data = p.forwarded_message(text) if forwarded else p.message(text)
    await harness.send("MESSAGE_CREATE", data)

    (stored,) = await harness.services.storage.messages.recent_messages(_server(), 10)
    verdicts = await harness.services.storage.verdicts.verdicts_for(_server(), stored.row_id)
    assert verdicts[-1].stage is Stage.KEYWORD and verdicts[-1].decision is Decision.REMOVE_AND_TIMEOUT
    assert FLOOD in stored.event.text  # judged as written (for a forward: the forwarded text)

    (case_post,) = [c.body for c in harness.fake.calls("POST", rf"/channels/{p.MOD_CHANNEL_ID}/messages")]
    (embed,) = case_post["embeds"]
    assert "@everyone" in embed["description"]  # moderators see what was written ...
    assert "@everyone" not in (case_post.get("content") or "")  # ... in an embed, which never pings
    _assert_pings_nobody_but(_bot_posts(harness), p.MEMBER_ID)
    assert harness.fake.calls("DELETE", rf"/channels/{p.GENERAL_ID}/messages/{data['id']}")


def _server() -> ServerRef:
    return ServerRef("discord", p.GUILD_ID)


async def test_a_forwarded_evasion_is_judged_by_its_snapshot_text(harness: Harness):
    data = p.forwarded_message("||free-nitro||||.example||", text="lol look")
    await harness.send("MESSAGE_CREATE", data)

    (stored,) = await harness.services.storage.messages.recent_messages(_server(), 10)
    verdicts = await harness.services.storage.verdicts.verdicts_for(_server(), stored.row_id)
    assert stored.event.text.startswith("lol look\n")
    assert verdicts[-1].decision is Decision.REMOVE_AND_TIMEOUT and verdicts[-1].rule_ids == ("SC1",)


# --- Slack and the HTTP API --------------------------------------------------------------------------


def _case(text: str, rationale: str) -> Case:
    event = MessageEvent(ServerRef("slack", "T1"), "C1", "1700000000.000100", "U123", text)
    verdict = Verdict(Decision.REMOVE, Stage.REASONER, "sha256:0", rule_ids=("SC1",), rationale=rationale)
    return Case(3, event, verdict, created_at=datetime.now(UTC))


def test_a_slack_case_post_escapes_every_mention_and_link():
    message = case_message(_case(f"{FLOOD} <https://evil.example|discord.com> {SCAM}", rationale="quotes <!here> and <@U999>"))
    posted = json.dumps(message, ensure_ascii=False)

    assert "<!" not in posted  # no @channel, @here, @everyone or user-group ping
    assert "<https://evil.example" not in posted  # no masked link
    assert {part.split(">")[0] for part in posted.split("<@")[1:]} <= {"U123"}  # only the author, by id
    assert "&lt;!channel&gt;" in posted  # shown, escaped


def test_the_http_callback_carries_hostile_text_as_exact_json():
    rationale = '"}\\"} <|end|> @everyone ```'
    case = _case(FLOOD, rationale)
    action = Action(ActionKind.POST_CASE, server=case.event.server, case=case, reason='reason "} {')
    body = callback_body(callback_payload(action, "key-1"))

    document = json.loads(body)
    assert document["rationale"] == rationale and document["reason"] == 'reason "} {'
    assert document["idempotency_key"] == "key-1"
