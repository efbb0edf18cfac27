"""Sign in with Slack: a workspace admin (or a member of a moderator user group) gets the workspace's
queue; anyone else, or a user of another workspace, sees no server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from modbot.config import SlackSettings
from modbot.domain import CaseStatus, ServerRef
from tests.console.fake_oauth import FakeOAuth
from tests.console.fake_slack import BOT_TOKEN, SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, TEAM_ID, FakeSlack, SlackUser
from tests.console.harness import Console, console_settings, csrf_of, open_cases, start_stack

WORKSPACE = ServerRef("slack", TEAM_ID)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(usergroups={"S0MODS": ["U0GROUP"]}).start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def console(tmp_path: Path, oauth: FakeOAuth, slack: FakeSlack) -> AsyncIterator[Console]:
    settings = console_settings(
        oauth,
        slack_client_id=SLACK_CLIENT_ID,
        slack_client_secret=SLACK_CLIENT_SECRET,
        slack_api_base=slack.url + "/api",
        slack_authorize_url=slack.url + "/openid/connect/authorize",
    )
    slack_settings = SlackSettings(bot_token=BOT_TOKEN, moderator_usergroup_ids=("S0MODS",))
    running = await start_stack(tmp_path, oauth, console=settings, slack=slack_settings)
    await open_cases(running.services, WORKSPACE, ["private aimbot in #general"])
    try:
        yield running
    finally:
        await running.close()


async def _sign_in(client: httpx.AsyncClient, slack: FakeSlack, user: SlackUser) -> httpx.Response:
    slack.next_user = user
    login = await client.get("/login")
    assert "Sign in with Slack" in login.text and "Sign in with Discord" in login.text
    home = await client.get("/auth/slack")
    assert home.status_code == 200, home.text
    return home


async def test_a_workspace_admin_reviews_a_case(console: Console, slack: FakeSlack) -> None:
    async with console.client() as client:
        home = await _sign_in(client, slack, SlackUser("U0ADMIN", "ana", is_admin=True))
        assert "Workplace" in home.text
        page = await client.get(f"/servers/slack/{TEAM_ID}/cases/1")
        assert "private aimbot in #general" in page.text
        assert ">Timeout</button>" not in page.text and ">Ban</button>" not in page.text  # not on Slack
        answer = await client.post(f"/servers/slack/{TEAM_ID}/cases/1/review", data={"csrf": csrf_of(page), "outcome": "uphold"})
        assert "Case #1 upheld" in answer.text
    case = await console.services.storage.cases.get_case_by_number(WORKSPACE, 1)
    assert case is not None and case.status is CaseStatus.UPHELD


async def test_a_moderator_group_member_may_moderate(console: Console, slack: FakeSlack) -> None:
    async with console.client() as client:
        home = await _sign_in(client, slack, SlackUser("U0GROUP", "gus"))
        assert "Workplace" in home.text
        assert (await client.get(f"/servers/slack/{TEAM_ID}/queue")).status_code == 200


@pytest.mark.parametrize("user", [SlackUser("U0PLAIN", "pat"), SlackUser("U0OTHER", "oz", team_id="T0ELSE", is_admin=True)])
async def test_members_and_other_workspaces_see_no_server(console: Console, slack: FakeSlack, user: SlackUser) -> None:
    async with console.client() as client:
        home = await _sign_in(client, slack, user)
        assert "You moderate no server" in home.text
        assert (await client.get(f"/servers/slack/{TEAM_ID}/queue")).status_code == 404
