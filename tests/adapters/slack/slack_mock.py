"""A loopback fake of the Slack Web API (and of response_url and Socket Mode) that records every call.

It answers the methods modbot uses with Slack's real response shapes; tests script failures
(``ratelimited`` with Retry-After, 5xx) per method and assert on the recorded calls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.loopback import LoopbackSite


@dataclass
class Call:
    method: str
    token: str | None
    args: dict[str, Any]
    at: float


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class MockSlack:
    """``base_url`` = ``<url>/api/``; ``response_url(name)`` gives a recorded response_url."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[Scripted]] = {}
        #: token -> team id (auth.test answers with it); unknown tokens are invalid_auth.
        self.tokens: dict[str, str] = {}
        #: user tokens whose owner is a workspace admin: only they can delete others' messages.
        self.admin_tokens: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.oauth_grant: dict[str, Any] | None = None
        #: method -> seconds to wait before answering (a slow Slack).
        self.delays: dict[str, float] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._site = LoopbackSite()
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> MockSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack-sdk reads some methods (users.info...) with GET
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket)
        await self._site.serve(app, access_log=None)
        self.url = self._site.url
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await self._site.close()

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.url}/respond/{name}"

    # -- scripting and assertions ----------------------------------------------------------------

    def fail_next(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.failures.setdefault(method, []).append(Scripted(status, body, headers or {}))

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)

    # -- Socket Mode -----------------------------------------------------------------------------

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        await self.wait_for(lambda: bool(self._sockets))
        await self._sockets[-1].send_str(json.dumps(envelope))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        self._sockets.remove(ws)
        return ws

    # -- HTTP ------------------------------------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["name"], await request.json()))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            args = {}
        elif request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        args.update(request.query)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or args.get("token")
        self.calls.append(Call(method, token, args, time.monotonic()))
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        scripted = self.failures.get(method)
        if scripted:
            failure = scripted.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        body = handler(token, args) if handler else {"ok": False, "error": "unknown_method"}
        return web.json_response(body)

    def _next_ts(self) -> str:
        return f"1700001000.{next(self._ts):06d}"

    def _auth_test(self, token: str | None, args: dict) -> dict:
        team = self.tokens.get(token or "")
        if team is None:
            return {"ok": False, "error": "invalid_auth"}
        if token.startswith("xoxb-"):
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "modbot", "team_id": team,
                    "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": False}
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "admin", "team_id": team,
                "user_id": "UADMIN", "is_enterprise_install": False}

    def _chat_postMessage(self, token: str | None, args: dict) -> dict:
        ts = self._next_ts()
        return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"type": "message", "text": args.get("text"), "ts": ts}}

    def _chat_postEphemeral(self, token: str | None, args: dict) -> dict:
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, token: str | None, args: dict) -> dict:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}

    def _chat_delete(self, token: str | None, args: dict) -> dict:
        if token not in self.admin_tokens:
            return {"ok": False, "error": "cant_delete_message"}
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}

    def _users_info(self, token: str | None, args: dict) -> dict:
        user = self.users.get(args.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": args["user"], "is_admin": False, "is_owner": False, "is_primary_owner": False, **user}}

    def _usergroups_users_list(self, token: str | None, args: dict) -> dict:
        group = args.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _conversations_open(self, token: str | None, args: dict) -> dict:
        return {"ok": True, "channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def _apps_connections_open(self, token: str | None, args: dict) -> dict:
        if not (token or "").startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}

    def _oauth_v2_access(self, token: str | None, args: dict) -> dict:
        if self.oauth_grant is None or args.get("code") != "good-code":
            return {"ok": False, "error": "invalid_code"}
        return self.oauth_grant
