"""A loopback fake of Slack's "Sign in with Slack" (OpenID Connect) and the two Web API methods the
console asks with the bot token (``users.info``, ``usergroups.users.list``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.support.loopback import LoopbackSite

SLACK_CLIENT_ID = "1111.2222"
SLACK_CLIENT_SECRET = "slack-console-secret"
BOT_TOKEN = "xoxb-console-test"
TEAM_ID = "T0CONSOLE"


@dataclass
class SlackUser:
    """Who signs in, and what ``users.info`` says of them."""

    id: str
    name: str
    team_id: str = TEAM_ID
    is_admin: bool = False
    is_owner: bool = False


@dataclass
class FakeSlack:
    """Start with ``await FakeSlack().start()``; point ``[console] slack_api_base``/``slack_authorize_url`` here."""

    usergroups: dict[str, list[str]] = field(default_factory=dict)
    next_user: SlackUser | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self._codes: dict[str, SlackUser] = {}
        self._tokens: dict[str, SlackUser] = {}
        self._ids = itertools.count(1)
        self._site = LoopbackSite()

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_get("/openid/connect/authorize", self._authorize)
        app.router.add_post("/api/{method}", self._api)
        self.port = await self._site.serve(app)
        return self

    async def close(self) -> None:
        await self._site.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != SLACK_CLIENT_ID or q.get("scope") != "openid profile" or not q.get("nonce"):
            return web.Response(status=400, text="bad authorize request")
        assert self.next_user is not None, "the test did not say who signs in"
        code = f"slack-code-{next(self._ids)}"
        self._codes[code] = self.next_user
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if method == "openid.connect.token":
            user = self._codes.pop(form.get("code", ""), None)
            if form.get("client_secret") != SLACK_CLIENT_SECRET or user is None:
                return web.json_response({"ok": False, "error": "invalid_code"})
            access = f"xoxp-user-{next(self._ids)}"
            self._tokens[access] = user
            return web.json_response({"ok": True, "access_token": access, "token_type": "Bearer", "id_token": "x.y.z"})
        if method == "openid.connect.userInfo":
            user = self._tokens.get(token)
            if user is None:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response(self._user_info(user))
        if token != BOT_TOKEN:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "users.info":
            return web.json_response(self._users_info(form.get("user", "")))
        if method == "usergroups.users.list":
            return web.json_response({"ok": True, "users": self.usergroups.get(form.get("usergroup", ""), [])})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def _user_info(self, user: SlackUser) -> dict[str, Any]:
        return {
            "ok": True,
            "sub": user.id,
            "https://slack.com/user_id": user.id,
            "https://slack.com/team_id": user.team_id,
            "https://slack.com/team_name": "Workplace",
            "name": user.name,
        }

    def _users_info(self, user_id: str) -> dict[str, Any]:
        known = [u for u in (*self._codes.values(), *self._tokens.values()) if u.id == user_id and u.team_id == TEAM_ID]
        if not known:
            return {"ok": False, "error": "user_not_found"}
        user = known[0]
        return {"ok": True, "user": {"id": user.id, "team_id": user.team_id, "is_admin": user.is_admin, "is_owner": user.is_owner}}
