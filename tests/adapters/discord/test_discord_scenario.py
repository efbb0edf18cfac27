"""Issue 5's "done" scenario, end to end on a test guild, through the real client and the real core.

A moderator uploads the game-community policy, switches to enforce; a cheat-selling message is
removed (with a timeout, a warning and a case posted to the mod-log channel); the moderator
overturns the case from its button and the review is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from modbot.domain import CaseStatus
from modbot.domain.records import LabelledText
from modbot.domain.settings import ServerSettings
from tests.adapters.discord import payloads as p
from tests.adapters.discord.harness import EPHEMERAL, SERVER, game_policy_text, interact, make_harness, slash, upload_payload
from tests.adapters.discord.fake_discord import FakeDiscord


async def test_moderator_uploads_policy_enforces_and_overturns_a_removal(fake: FakeDiscord, tmp_path: Path) -> None:
    # The operator names the mod-log channel in modbot.toml ([server_defaults] mod_channel_id).
    harness = await make_harness(
        fake, tmp_path, server_defaults=ServerSettings(policy_id="test-policy", mod_channel_id=p.MOD_CHANNEL_ID)
    )
    try:
        # 1. The moderator uploads the game-community policy as an attachment.
        uploaded = await interact(harness, upload_payload(harness, "game-community.md", game_policy_text().encode()))
        assert uploaded.embed["title"].endswith("uploaded and in use")
        policy = await harness.services.policies.get(SERVER)
        assert policy.text == game_policy_text()

        # 2. ... and switches the server to enforce.
        mode = await slash(harness, "mode", [p.option("mode", 3, "enforce")])
        assert mode.embed["title"] == "Mode: enforce"

        # 3. A member advertises cheats for sale.
        before = datetime.now(timezone.utc)
        selling = p.message("selling undetected cheats, private aimbot, dm me 10$ per week", author_id=p.SELLER_ID)
        await harness.send("MESSAGE_CREATE", selling)

        # The message is removed ...
        assert fake.calls("DELETE", rf"/channels/{p.GENERAL_ID}/messages/{selling['id']}")
        # ... the author is timed out for the policy's "high" severity (24h) ...
        (timeout,) = fake.calls("PATCH", rf"/guilds/{p.GUILD_ID}/members/{p.SELLER_ID}")
        until = datetime.fromisoformat(timeout.body["communication_disabled_until"])
        assert timedelta(hours=23, minutes=59) < until - before < timedelta(hours=24, minutes=1)
        # ... warned by DM, in the guild's name and the policy's words ...
        assert fake.calls("POST", "/users/@me/channels")
        (dm,) = [r for r in fake.calls("POST", r"/channels/\d+/messages") if "removed by the moderation bot" in (r.body.get("content") or "")]
        assert "Raid Night" in dm.body["content"] and policy.rule("CH1").description in dm.body["content"]
        # ... and a case is posted to the mod-log channel.
        (post,) = fake.posted(p.MOD_CHANNEL_ID)
        (embed,) = post["embeds"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert embed["title"] == "Case #1 · remove_and_timeout"
        assert "selling undetected cheats" in embed["description"]
        assert fields["Rules"] == "CH1"
        assert fields["Stage"] == "reasoner"
        assert fields["Policy version"] == policy.version
        assert fields["Status"] == "open"
        case = await harness.services.storage.cases.get_case(SERVER, 1)
        assert case is not None and case.posted_ref == f"{p.MOD_CHANNEL_ID}/{post['id']}"

        # 4. The moderator overturns it from the button on the post.
        overturned = await interact(harness, p.button_click("modbot:overturn:1", post))

        case = await harness.services.storage.cases.get_case(SERVER, 1)
        assert case is not None and case.status is CaseStatus.OVERTURNED
        assert await harness.services.storage.cases.reviewed_examples(SERVER) == [LabelledText(selling["content"], False)]
        (edit,) = overturned.edits
        edited = {f["name"]: f["value"] for f in edit.body["embeds"][0]["fields"]}
        assert edited["Status"] == "overturned"
        assert edited["Review"] == f"overturn by <@{p.MOD_ID}>"
        assert overturned.followups[-1].body["flags"] & EPHEMERAL
        audit = await harness.services.storage.audit.audit_entries(SERVER, limit=10)
        assert {(row.command, row.allowed) for row in audit} == {("policy upload", True), ("mode", True), ("review", True)}
    finally:
        await harness.services.close()
