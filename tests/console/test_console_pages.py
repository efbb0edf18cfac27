"""The console over real HTTP on loopback: log in through the fake Discord provider, the queue, a case,
an overturn that changes the database, and the refusals (other server's case, missing CSRF token,
a member who moderates nothing)."""

from __future__ import annotations

from modbot.domain import CaseStatus
from tests.console.fake_oauth import ADMINISTRATOR, MANAGE_MESSAGES, SEND_MESSAGES, OAuthUser, guild
from tests.console.harness import GUILD_A, GUILD_B, SERVER_A, SERVER_B, Console, csrf_of

MOD_A = OAuthUser(
    "900",
    "mia",
    [
        guild(GUILD_A, "Raid Night", MANAGE_MESSAGES),
        guild(GUILD_B, "Other", SEND_MESSAGES),
        guild("333333333333333333", "Stranger", ADMINISTRATOR),  # a server the bot does not serve
    ],
)
ADMIN_BOTH = OAuthUser("901", "ada", [guild(GUILD_A, "Raid Night", ADMINISTRATOR), guild(GUILD_B, "Other", ADMINISTRATOR)])
MEMBER = OAuthUser("902", "max", [guild(GUILD_A, "Raid Night", SEND_MESSAGES)])


async def test_login_lists_only_the_servers_the_user_moderates(console: Console) -> None:
    async with console.client() as client:
        assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"
        home = await console.login(client, MOD_A)
        assert "Raid Night" in home.text and "Other" not in home.text and "Stranger" not in home.text
        # The session cookie is signed, HttpOnly, SameSite=Lax (not Secure: plain http on loopback).
        callback = [h for h in home.history if h.url.path == "/auth/discord/callback"][-1]
        header = callback.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=lax" in header and "secure" not in header
        # The token request carried the client secret to the provider, and the redirect URI is ours.
        assert console.oauth.token_requests[-1]["redirect_uri"] == f"{console.url}/auth/discord/callback"


async def test_non_moderator_sees_no_servers_and_no_queue(console: Console) -> None:
    async with console.client() as client:
        home = await console.login(client, MEMBER)
        assert "You moderate no server" in home.text
        assert (await client.get(f"/servers/discord/{GUILD_A}/queue")).status_code == 404


async def test_queue_case_and_overturn_change_the_database(console: Console) -> None:
    async with console.client() as client:
        await console.login(client, MOD_A)
        queue = await client.get(f"/servers/discord/{GUILD_A}/queue")
        assert queue.status_code == 200
        assert "2 open cases" in queue.text and "private aimbot for sale" in queue.text
        assert "aimbot menu 5$" not in queue.text  # the other server's case
        assert 'aria-current="page">Queue</a>' in queue.text
        # Filters: both cases are removals by the reasoner; a decision nobody has leaves nothing.
        kept = await client.get(f"/servers/discord/{GUILD_A}/queue", params={"decision": "remove", "stage": "reasoner"})
        assert "selling an aimbot" in kept.text and "private aimbot" in kept.text
        filtered = await client.get(f"/servers/discord/{GUILD_A}/queue", params={"decision": "escalate"})
        assert "No open cases match these filters" in filtered.text and "private aimbot" not in filtered.text
        # Both were opened a moment ago, neither by an audit.
        fresh = await client.get(f"/servers/discord/{GUILD_A}/queue", params={"age": "24h"})
        assert "selling an aimbot" in fresh.text and "private aimbot" in fresh.text
        for params in ({"age": "older-24h"}, {"audit": "1"}):
            assert "No open cases match" in (await client.get(f"/servers/discord/{GUILD_A}/queue", params=params)).text

        page = await client.get(f"/servers/discord/{GUILD_A}/cases/1")
        assert page.status_code == 200
        assert "selling an aimbot, dm me" in page.text and "CH1" in page.text
        answer = await client.post(
            f"/servers/discord/{GUILD_A}/cases/1/review", data={"csrf": csrf_of(page), "outcome": "overturn"}
        )
        assert answer.status_code == 200 and "Case #1 overturned" in answer.text

    case = await console.services.storage.cases.get_case_by_number(SERVER_A, 1)
    assert case is not None and case.status is CaseStatus.OVERTURNED
    audit = await console.services.storage.audit.audit_entries(SERVER_A, limit=20)
    assert ("review", "900", True) in {(row.command, row.actor_id, row.allowed) for row in audit}


async def test_bulk_uphold_reviews_every_ticked_case(console: Console) -> None:
    async with console.client() as client:
        await console.login(client, MOD_A)
        queue = await client.get(f"/servers/discord/{GUILD_A}/queue")
        answer = await client.post(
            f"/servers/discord/{GUILD_A}/queue/bulk",
            data={"csrf": csrf_of(queue), "outcome": "uphold", "case[]": ["1", "2"]},
        )
        assert "2 cases upheld" in answer.text and "No open cases" in answer.text
    found = await console.services.storage.cases.list_cases(SERVER_A, status=CaseStatus.UPHELD)
    assert found.total == 2


async def test_another_servers_case_cannot_be_opened_or_reviewed_by_url(console: Console) -> None:
    async with console.client() as client:
        page = await console.login(client, MOD_A)
        token = csrf_of(page)
        assert (await client.get(f"/servers/discord/{GUILD_B}/cases/1")).status_code == 404
        refused = await client.post(
            f"/servers/discord/{GUILD_B}/cases/1/review", data={"csrf": token, "outcome": "overturn"}
        )
        assert refused.status_code == 404
        # Case numbers are per server: #3 does not exist in A (B's case is B's #1).
        assert (await client.get(f"/servers/discord/{GUILD_A}/cases/3")).status_code == 404
    case = await console.services.storage.cases.get_case_by_number(SERVER_B, 1)
    assert case is not None and case.status is CaseStatus.OPEN


async def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    async with console.client() as client:
        await console.login(client, ADMIN_BOTH)
        path = f"/servers/discord/{GUILD_A}/cases/1/review"
        assert (await client.post(path, data={"outcome": "overturn"})).status_code == 403
        assert (await client.post(path, data={"outcome": "overturn", "csrf": "forged"})).status_code == 403
        assert (await client.post(f"/servers/discord/{GUILD_A}/settings", data={"op": "mode", "mode": "enforce"})).status_code == 403
    case = await console.services.storage.cases.get_case_by_number(SERVER_A, 1)
    assert case is not None and case.status is CaseStatus.OPEN
    assert (await console.services.core.server_settings(SERVER_A)).mode == "shadow"


async def test_logged_out_pages_send_to_login_and_forged_cookies_are_ignored(console: Console) -> None:
    async with console.client() as client:
        answer = await client.get(f"/servers/discord/{GUILD_A}/queue", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        client.cookies.set("modbot_console", "eyJ1c2VyIjogeyJpZCI6ICI5MDAifX0=.forged.sig")
        assert (await client.get(f"/servers/discord/{GUILD_A}/queue", follow_redirects=False)).status_code == 303


async def test_settings_policy_and_stats_pages(console: Console) -> None:
    async with console.client() as client:
        await console.login(client, ADMIN_BOTH)
        prefix = f"/servers/discord/{GUILD_B}"
        settings = await client.get(prefix + "/settings")
        token = csrf_of(settings)
        changed = await client.post(prefix + "/settings", data={"csrf": token, "op": "mode", "mode": "enforce"})
        assert "Mode: enforce" in changed.text
        await client.post(prefix + "/settings", data={"csrf": token, "op": "modchannel", "channel_id": "333"})
        await client.post(prefix + "/settings", data={"csrf": token, "op": "exempt", "kind": "role", "action": "add", "target": "444"})
        effective = await console.services.core.server_settings(SERVER_B)
        assert (effective.mode, effective.mod_channel_id, effective.exempt_role_ids) == ("enforce", "333", ("444",))

        policy = await client.get(prefix + "/policy")
        assert policy.status_code == 200 and "test-policy" in policy.text and "in use" in policy.text
        tested = await client.post(prefix + "/policy", data={"csrf": token, "op": "test", "text": "buy my aimbot"})
        assert "Test verdict" in tested.text

        stats = await client.get(prefix + "/stats")
        assert stats.status_code == 200 and "<svg" in stats.text and "Prefilter recall" in stats.text
        assert "Messages judged" in stats.text
        audit = await client.get(prefix + "/audit")
        assert "mode" in audit.text and "exempt" in audit.text


async def test_policy_upload_is_linted_and_versions_switch_with_one_click(console: Console) -> None:
    from tests.adapters.discord.harness import game_policy_text
    from tests.conftest import TEST_POLICY

    async with console.client() as client:
        await console.login(client, ADMIN_BOTH)
        prefix = f"/servers/discord/{GUILD_A}"
        token = csrf_of(await client.get(prefix + "/policy"))
        before = (await console.services.policies.get(SERVER_A)).version
        # The short test policy breaks the guide's rules: refused with the lint report, nothing changes.
        changed = TEST_POLICY.replace('title = "Test policy"', 'title = "Test policy v2"')
        refused = await client.post(
            prefix + "/policy", data={"csrf": token, "op": "upload", "text": changed, "filename": "v2.md", "activate": "on"}
        )
        assert "not uploaded" in refused.text and "lint errors" in refused.text and "missing definitions section" in refused.text
        assert (await console.services.policies.get(SERVER_A)).version == before
        # The shipped game-community policy passes lint: uploaded and used at once.
        uploaded = await client.post(
            prefix + "/policy",
            data={"csrf": token, "op": "upload", "text": game_policy_text(), "filename": "game.md", "activate": "on"},
        )
        assert "uploaded and in use" in uploaded.text
        assert (await console.services.policies.get(SERVER_A)).version != before
        # One click on the old version's Use button switches back.
        assert f'name="ref" value="{before}"' in uploaded.text
        switched = await client.post(prefix + "/policy", data={"csrf": token, "op": "use", "ref": before})
        assert "Now using test-policy" in switched.text
    assert (await console.services.policies.get(SERVER_A)).version == before
