"""Multi-workspace installs: the OAuth flow through the adapter's web app, tokens kept in our database."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlparse

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.oauth.installation_store.models.installation import Installation

from adapters.slack_app import BOT_SCOPES, USER_SCOPES, DatabaseInstallationStore, missing_settings
from bot.app import build_services
from bot.domain import ServerRef
from tests.adapters.slack.slack_harness import GENERAL, MOD_CHANNEL, message_payload, start_harness
from tests.conftest import make_settings

T2 = "T2SECOND"
GRANT = {
    "ok": True,
    "access_token": "xoxb-2-bot",
    "token_type": "bot",
    "scope": ",".join(BOT_SCOPES),
    "bot_user_id": "UBOT2",
    "app_id": "A1",
    "team": {"name": "Second guild", "id": T2},
    "enterprise": None,
    "authed_user": {"id": "UINSTALLER", "scope": "chat:write", "access_token": "xoxp-2-installer", "token_type": "user"},
    "is_enterprise_install": False,
}


async def _eventually(fetch, check, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check(await fetch()):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_install_then_moderate_the_new_workspace_with_its_own_tokens(tmp_path):
    h = await start_harness(tmp_path, bot_token=None, admin_token=None, client_id="111.222", client_secret="oauth-secret")
    assert missing_settings(h.services.settings) == []
    h.mock.oauth_grant = GRANT
    h.mock.tokens.update({"xoxb-2-bot": T2, "xoxp-2-installer": T2})
    h.mock.admin_tokens.add("xoxp-2-installer")  # the installer is a workspace admin
    try:
        async with TestClient(TestServer(h.adapter.web_app())) as client:
            page = await client.get("/slack/install", allow_redirects=False)
            assert page.status in (200, 302)
            body = await page.text()
            authorize = re.search(r'https://slack\.com/oauth/v2/authorize\?[^"\']+', body or page.headers.get("Location", ""))
            query = parse_qs(urlparse(authorize.group(0).replace("&amp;", "&")).query)
            assert query["scope"] == [",".join(BOT_SCOPES)] and query["user_scope"] == [",".join(USER_SCOPES)]
            state = query["state"][0]
            cookie = page.headers["Set-Cookie"].split(";")[0]

            forged = await client.get("/slack/oauth_redirect", params={"code": "good-code", "state": "forged"}, headers={"Cookie": cookie})
            assert forged.status >= 400
            done = await client.get("/slack/oauth_redirect", params={"code": "good-code", "state": state}, headers={"Cookie": cookie})
            assert done.status == 200, await done.text()

        record = await h.services.store.find_installation("slack", None, T2)
        assert record.data["bot_token"] == "xoxb-2-bot" and record.data["user_token"] == "xoxp-2-installer"
        assert await h.services.store.server_exists(ServerRef("slack", T2))

        before = h.adapter.counters.handled
        await h.send_event(message_payload("free-nitro.example", ts="1700000500.000001"), team=T2)
        await h.settle(before + 1)
        (delete,) = h.mock.called("chat.delete")
        assert delete.token == "xoxp-2-installer" and delete.args["channel"] == GENERAL
        (post,) = [c for c in h.mock.called("chat.postMessage") if c.args.get("blocks")]
        assert post.token == "xoxb-2-bot" and post.args["channel"] == MOD_CHANNEL

        # An event from a workspace that never installed the app is refused by bolt's authorize step.
        before = h.adapter.counters.handled
        refused = await h.send_event(message_payload("free-nitro.example"), team="T9UNKNOWN")
        assert refused.status == 200  # answered (Slack must not retry), but no listener ran
        assert h.adapter.counters.handled == before

        uninstall = {"type": "app_uninstalled", "event_ts": "1700000600.000001"}
        await h.send_event(uninstall, team=T2)
        assert await _eventually(lambda: h.services.store.find_installation("slack", None, T2), lambda found: found is None)
    finally:
        await h.services.close()
        await h.mock.stop()


async def test_installation_store_keeps_history_and_revokes_tokens(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    store = DatabaseInstallationStore(services.store)
    try:
        first = Installation(app_id="A1", team_id="T3", team_name="Three", bot_token="xoxb-old", bot_id="B1",
                             bot_user_id="UB", bot_scopes=list(BOT_SCOPES), user_id="U1", user_token="xoxp-u1",
                             user_scopes=["chat:write"])
        await store.async_save(first)
        second = Installation(app_id="A1", team_id="T3", bot_token="xoxb-new", bot_id="B1", bot_user_id="UB",
                              user_id="U2", user_token="xoxp-u2", user_scopes=["chat:write"])
        await store.async_save(second)

        assert (await store.async_find_bot(enterprise_id=None, team_id="T3")).bot_token == "xoxb-new"
        older_user = await store.async_find_installation(enterprise_id=None, team_id="T3", user_id="U1")
        assert older_user.user_token == "xoxp-u1" and older_user.bot_token == "xoxb-new"  # newest bot token wins
        assert await services.store.server_exists(ServerRef("slack", "T3"))

        await store.async_delete_installation(enterprise_id=None, team_id="T3", user_id="U2")
        assert (await store.async_find_installation(enterprise_id=None, team_id="T3", user_id="U2")).user_token is None
        await store.async_delete_bot(enterprise_id=None, team_id="T3")
        assert await store.async_find_bot(enterprise_id=None, team_id="T3") is None

        org = Installation(app_id="A1", enterprise_id="E1", team_id="T4", bot_token="xoxb-org", user_id="U9",
                           is_enterprise_install=True)
        await store.async_save(org)
        found = await store.async_find_bot(enterprise_id="E1", team_id="T-any", is_enterprise_install=True)
        assert found.bot_token == "xoxb-org"

        await store.async_delete_all(enterprise_id=None, team_id="T3")
        assert await store.async_find_installation(enterprise_id=None, team_id="T3") is None
    finally:
        await services.close()
