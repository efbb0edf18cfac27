"""Multi-workspace installs: the OAuth flow through the adapter's web app, tokens and OAuth state kept
by slack-sdk's SQLAlchemy stores in the bot's database (tables from migration 0003)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy.ext.asyncio import create_async_engine

from modbot_adapters.slack_app import BOT_SCOPES, USER_SCOPES, missing_settings, oauth_stores
from modbot.app import build_services
from modbot.domain import ServerRef
from modbot.store.database import upgrade
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

        installations = h.adapter.stores.installations
        record = await installations.async_find_installation(enterprise_id=None, team_id=T2)
        assert record.bot_token == "xoxb-2-bot" and record.user_token == "xoxp-2-installer"
        assert await h.services.storage.servers.server_exists(ServerRef("slack", T2))  # told through Core.server_joined

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
        assert await _eventually(
            lambda: installations.async_find_installation(enterprise_id=None, team_id=T2), lambda found: found is None
        )
    finally:
        await h.services.close()
        await h.mock.stop()


async def test_installation_store_keeps_the_newest_tokens_and_revokes_them(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)  # runs the migrations
    stores = oauth_stores(services.settings.database_url, "111.222")
    store = stores.installations
    try:
        first = Installation(app_id="A1", team_id="T3", team_name="Three", bot_token="xoxb-old", bot_id="B1",
                             bot_user_id="UB", bot_scopes=list(BOT_SCOPES), user_id="U1", user_token="xoxp-u1",
                             user_scopes=["chat:write"], installed_at=1700000000.0)
        await store.async_save(first)
        second = Installation(app_id="A1", team_id="T3", bot_token="xoxb-new", bot_id="B1", bot_user_id="UB",
                              user_id="U2", user_token="xoxp-u2", user_scopes=["chat:write"], installed_at=1700000100.0)
        await store.async_save(second)

        assert (await store.async_find_bot(enterprise_id=None, team_id="T3")).bot_token == "xoxb-new"
        older_user = await store.async_find_installation(enterprise_id=None, team_id="T3", user_id="U1")
        assert older_user.user_token == "xoxp-u1" and older_user.bot_token == "xoxb-new"  # newest bot token wins

        await store.async_delete_installation(enterprise_id=None, team_id="T3", user_id="U2")
        assert await store.async_find_installation(enterprise_id=None, team_id="T3", user_id="U2") is None
        await store.async_delete_bot(enterprise_id=None, team_id="T3")
        assert await store.async_find_bot(enterprise_id=None, team_id="T3") is None

        # An org-wide (Enterprise Grid) install has no team: Slack sends "team": null.
        org = Installation(app_id="A1", enterprise_id="E1", team_id=None, bot_token="xoxb-org", user_id="U9",
                           is_enterprise_install=True)
        await store.async_save(org)
        found = await store.async_find_bot(enterprise_id="E1", team_id="T-any", is_enterprise_install=True)
        assert found.bot_token == "xoxb-org"

        await store.async_delete_all(enterprise_id=None, team_id="T3")
        assert await store.async_find_installation(enterprise_id=None, team_id="T3") is None
    finally:
        await stores.aclose()
        await services.close()


async def test_an_install_in_progress_survives_a_restart(tmp_path):
    """The OAuth state issued before a restart is still accepted after it, once, and not when expired."""
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    url = services.settings.database_url
    before = oauth_stores(url, "111.222")
    try:
        state = await before.states.async_issue()
        other = await before.states.async_issue()
    finally:
        await before.aclose()  # the process stops half way through the install

    after = oauth_stores(url, "111.222")  # a new process, the same database file
    try:
        assert await after.states.async_consume(state)
        assert not await after.states.async_consume(state), "a state is good for one redirect only"
        assert not await after.states.async_consume("forged")
        after.states.expiration_seconds = -1
        expired = await after.states.async_issue()
        assert not await after.states.async_consume(expired)
        assert await after.states.async_consume(other)
    finally:
        await after.aclose()
        await services.close()


async def test_installs_kept_before_migration_0003_are_carried_over(tmp_path):
    """The old append-only ``installations`` rows become slack-sdk rows; a revoked bot token stays revoked."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    await upgrade(url, "0002")
    old = sa.table(
        "installations",
        *(sa.column(name) for name in ("platform", "enterprise_id", "team_id", "user_id", "installed_at")),
        sa.column("data", sa.JSON),
    )

    def row(team: str, user: str, when: float, **data) -> dict:
        values = dict(app_id="A1", team_id=team, user_id=user, installed_at=when, is_enterprise_install=False, **data)
        return dict(platform="slack", enterprise_id=None, team_id=team, user_id=user, data=values,
                    installed_at=datetime.fromtimestamp(when, UTC))

    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(old.insert().values(
            row("T5", "U1", 1700000000.0, bot_token="xoxb-5", bot_id="B5", bot_scopes=list(BOT_SCOPES),
                user_token="xoxp-5", user_scopes=["chat:write"])))
        await connection.execute(old.insert().values(row("T6", "U2", 1700000000.0, bot_token="xoxb-6")))
        await connection.execute(old.insert().values(row("T6", "U2", 1700000100.0, bot_token=None)))  # revoked
    await engine.dispose()

    await upgrade(url, "0003")
    stores = oauth_stores(url, "111.222")
    try:
        assert await stores.installations.async_find_bot(enterprise_id=None, team_id="T5") is None  # not claimed yet
        assert await stores.adopt_unclaimed() == 3  # T5's installation and bot, T6's installation
        bot = await stores.installations.async_find_bot(enterprise_id=None, team_id="T5")
        assert bot.bot_token == "xoxb-5" and bot.bot_scopes == list(BOT_SCOPES)
        user = await stores.installations.async_find_installation(enterprise_id=None, team_id="T5", user_id="U1")
        assert user.user_token == "xoxp-5" and user.user_scopes == ["chat:write"]
        assert await stores.installations.async_find_bot(enterprise_id=None, team_id="T6") is None
    finally:
        await stores.aclose()
