"""A review in the console redraws the case's post in Discord: the real discord.py adapter against the
loopback Discord fake, and the console on the same core, logged in through the fake OAuth provider."""

from __future__ import annotations

import httpx

from modbot.domain import ActionKind, CaseStatus
from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import SERVER
from tests.console.fake_oauth import MANAGE_MESSAGES, OAuthUser, guild
from tests.console.harness import DiscordConsole, csrf_of


async def test_overturn_in_the_console_edits_the_case_post_in_discord(fake: FakeDiscord, discord_console: DiscordConsole) -> None:
    harness = discord_console.harness
    await harness.send("MESSAGE_CREATE", p.message("private aimbot, dm me", author_id=p.SELLER_ID))
    (post,) = fake.posted(p.MOD_CHANNEL_ID)
    assert {f["name"]: f["value"] for f in post["embeds"][0]["fields"]}["Status"] == "open"

    discord_console.oauth.login_as(OAuthUser(p.MOD_ID, "mia", [guild(p.GUILD_ID, "Raid Night", MANAGE_MESSAGES)]))
    async with httpx.AsyncClient(base_url=discord_console.url, follow_redirects=True, timeout=10) as client:
        await client.get("/auth/discord")
        page = await client.get(f"/servers/discord/{p.GUILD_ID}/cases/1")
        assert page.status_code == 200 and "private aimbot, dm me" in page.text
        answer = await client.post(
            f"/servers/discord/{p.GUILD_ID}/cases/1/review", data={"csrf": csrf_of(page), "outcome": "overturn"}
        )
        assert "Case #1 overturned" in answer.text
        # A moderator's timeout from the case page reaches Discord as the bot's own would.
        timed = await client.post(
            f"/servers/discord/{p.GUILD_ID}/cases/1/action", data={"csrf": csrf_of(page), "kind": "timeout", "minutes": "5"}
        )
        assert "Timeout done for case #1" in timed.text

    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case is not None and case.status is CaseStatus.OVERTURNED
    # The post in the mod channel was edited to show the new status, with its buttons kept.
    (edit,) = fake.calls("PATCH", rf"/channels/{p.MOD_CHANNEL_ID}/messages/{post['id']}")
    fields = {f["name"]: f["value"] for f in edit.body["embeds"][0]["fields"]}
    assert fields["Status"] == "overturned"
    assert fields["Review"].startswith("overturned")
    assert edit.body["components"]
    # ... recorded like any action on the case, and the review audited under the moderator's id.
    actions = await harness.services.core.case_actions(SERVER, 1)
    assert [(a.kind, a.ok) for a in actions if a.kind is ActionKind.UPDATE_CASE] == [(ActionKind.UPDATE_CASE, True)]
    audit = await harness.services.storage.audit.audit_entries(SERVER, limit=10)
    assert ("review", p.MOD_ID, True) in {(row.command, row.actor_id, row.allowed) for row in audit}
    (timeout,) = fake.calls("PATCH", rf"/guilds/{p.GUILD_ID}/members/{p.SELLER_ID}")
    assert timeout.body["communication_disabled_until"]
    assert ("case action", p.MOD_ID, True) in {(row.command, row.actor_id, row.allowed) for row in audit}
