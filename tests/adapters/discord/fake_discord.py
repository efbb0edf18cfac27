"""A loopback fake of Discord's HTTP API and gateway for driving the real discord.py client.

An aiohttp server on 127.0.0.1 that records every REST request and answers with JSON shaped like
Discord's (only the fields discord.py reads, plus the usual ones). Tests script failures
(``fail``: an error status with a Discord JSON error code; ``drop``: close the connection without
an answer), serve attachment bytes (``files``), previous messages (``history``), and run a minimal
gateway (HELLO → IDENTIFY → READY + GUILD_CREATE, or a close code such as 4014).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
import yarl
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket

from tests.adapters.discord import payloads as p
from tests.support.loopback import LoopbackSite

API_PREFIX = "/api/v10"


@dataclass
class Recorded:
    """One REST request the client made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    headers: dict[str, str]

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}>"


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    drop: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GatewayScript:
    """What the fake gateway does after IDENTIFY."""

    close_code: int | None = None
    guilds: list[dict[str, Any]] = field(default_factory=list)


class FakeDiscord:
    """Start with ``await FakeDiscord().start()``; point discord.py at ``api_base``/``gateway_url``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.files: dict[str, bytes] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.gateway = GatewayScript()
        self.identify: dict[str, Any] | None = None
        #: Channels and threads ``GET /channels/{id}`` answers (ones the gateway never announced, say).
        self.channels: dict[str, dict[str, Any]] = {}
        #: Messages the bot posted (POST /channels/{id}/messages), as the fake answered them.
        self.sent: list[dict[str, Any]] = []
        #: The partial guilds ``GET /users/@me/guilds`` lists (with the bot's ``permissions``; modbot doctor).
        self.member_of: list[dict[str, Any]] = []
        #: Fields replacing those of ``payloads.application()`` in ``GET /oauth2/applications/@me``.
        self.application_overrides: dict[str, Any] = {}
        self._failures: list[_Failure] = []
        self._ids = itertools.count(900_000_000_000_000_001)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = itertools.count(1)
        self._site = LoopbackSite()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{tail:.*}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        self.port = await self._site.serve(app)
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await self._site.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def cdn_url(self, name: str) -> str:
        return f"{self.url}/cdn/{name}"

    def next_id(self) -> str:
        return str(next(self._ids))

    # -- scripting and assertions --------------------------------------------------------------

    def fail(self, method: str, path_regex: str, status: int, code: int = 0, message: str = "", times: int = 1) -> None:
        """The next ``times`` matching requests get ``status`` with Discord's JSON error body."""
        self._failures.append(_Failure(method, re.compile(path_regex), status, code, message or f"error {status}", times))

    def rate_limit(self, method: str, path_regex: str, retry_after: float, times: int = 1) -> None:
        """The next ``times`` matching requests get a 429 as Discord sends it (through its proxy)."""
        body = {"retry_after": retry_after, "global": False}
        headers = {"Via": "1.1 google", "X-RateLimit-Scope": "user", "Retry-After": str(retry_after)}
        pattern = re.compile(path_regex)
        message = "You are being rate limited."
        self._failures.append(_Failure(method, pattern, 429, 0, message, times, extra=body, headers=headers))

    def drop(self, method: str, path_regex: str, times: int = 1) -> None:
        """The next ``times`` matching requests lose their connection (a network error)."""
        self._failures.append(_Failure(method, re.compile(path_regex), 0, 0, "", times, drop=True))

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    async def wait_for(self, method: str, path_regex: str, count: int = 1, timeout: float = 5.0) -> list[Recorded]:
        """Wait until at least ``count`` matching requests were made; returns them."""

        async def _wait() -> list[Recorded]:
            async with self._changed:
                while len(found := self.calls(method, path_regex)) < count:
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            seen = "\n  ".join(repr(r) for r in self.requests)
            raise AssertionError(f"no {count}x {method} {path_regex} within {timeout}s; requests:\n  {seen}") from None

    def posted(self, channel_id: str) -> list[dict[str, Any]]:
        """The messages the bot posted in a channel, oldest first."""
        return [m for m in self.sent if m["channel_id"] == channel_id]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH (op 0) to every connected gateway socket."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    # -- HTTP ----------------------------------------------------------------------------------

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.pattern.fullmatch(path) and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    async def _record(self, recorded: Recorded) -> None:
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                body = json.loads(raw)
            elif request.content_type.startswith("multipart/"):
                body = _payload_json_of_multipart(raw)
            else:
                body = raw.decode("utf-8", "replace")
        await self._record(Recorded(request.method, path, dict(request.query), body, dict(request.headers)))
        failure = self._take_failure(request.method, path)
        if failure is not None:
            if failure.drop:
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("dropped by the test")
            response = _json({"message": failure.message, "code": failure.code, **failure.extra}, status=failure.status)
            response.headers.update(failure.headers)
            return response
        return self._answer(request.method, path, dict(request.query), body)

    def _answer(self, method: str, path: str, query: dict[str, str], body: Any) -> web.StreamResponse:
        no_content = web.Response(status=204)
        if method == "GET" and path == "/users/@me":
            return _json(p.user(p.BOT_ID, "modbot", bot=True))
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json({**p.application(), **self.application_overrides})
        if method == "GET" and path == "/users/@me/guilds":
            after, limit = int(query.get("after", 0)), int(query.get("limit", 200))
            return _json([g for g in self.member_of if int(g["id"]) > after][:limit])
        if method == "GET" and path == "/gateway/bot":
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if method == "GET" and path == "/gateway":
            return _json({"url": self.gateway_url})
        if method == "PUT" and (m := re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", path)):
            scope = {"guild_id": m.group(2)} if m.group(2) else {}
            app_id = m.group(1)
            # Discord answers context-menu commands (types 2 and 3) with an empty description.
            synced = [
                {"description": "", **command, "id": self.next_id(), "application_id": app_id, "version": "1", **scope}
                for command in body
            ]
            return _json(synced)
        if method == "POST" and re.fullmatch(r"/interactions/\d+/[^/]+/callback", path):
            return _json(p.callback_response(path.split("/")[2], body))
        if method == "POST" and (m := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", path)):
            return _json(p.bot_message(self.next_id(), p.MOD_CHANNEL_ID, body, webhook_id=m.group(1)))
        if method == "PATCH" and re.fullmatch(r"/webhooks/\d+/[^/]+/messages/[^/]+", path):
            return _json(p.bot_message(self.next_id(), p.MOD_CHANNEL_ID, body))
        if method == "DELETE" and re.fullmatch(r"/webhooks/\d+/[^/]+/messages/[^/]+", path):
            return no_content
        if method == "POST" and path == "/users/@me/channels":
            return _json(p.dm_channel(self.next_id(), str(body["recipient_id"])))
        if method == "GET" and (m := re.fullmatch(r"/channels/(\d+)", path)) and m.group(1) in self.channels:
            return _json(self.channels[m.group(1)])
        if m := re.fullmatch(r"/channels/(\d+)/messages", path):
            if method == "POST":
                sent = p.bot_message(self.next_id(), m.group(1), body)
                self.sent.append(sent)
                return _json(sent)
            if method == "GET":
                limit = int(query.get("limit", 50))
                messages = self.history.get(m.group(1), [])
                # Discord returns the newest first.
                return _json(list(reversed(messages))[:limit])
        if m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
            if method == "DELETE":
                return no_content
            if method == "PATCH":
                return _json(p.bot_message(m.group(2), m.group(1), body))
        if method == "PATCH" and (m := re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path)):
            member = p.member(m.group(2), roles=[])
            member["communication_disabled_until"] = (body or {}).get("communication_disabled_until")
            return _json(member)
        if method in ("PUT", "DELETE") and re.fullmatch(r"/guilds/\d+/bans/\d+", path):
            return no_content
        return _json({"message": f"fake Discord has no route {method} {path}", "code": 0}, status=404)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["tail"]
        await self._record(Recorded("GET", "/cdn/" + name, dict(request.query), None, dict(request.headers)))
        if name not in self.files:
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    # -- gateway -------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}}))
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame["op"] == 1:  # heartbeat
                    await ws.send_str(json.dumps({"op": 11}))
                elif frame["op"] == 2:  # identify
                    self.identify = frame["d"]
                    async with self._changed:
                        self._changed.notify_all()
                    if self.gateway.close_code is not None:
                        await ws.close(code=self.gateway.close_code, message=b"Disallowed intent(s).")
                        break
                    shard = frame["d"].get("shard", [0, 1])
                    ready = p.ready(self.gateway.guilds, shard=shard, resume_url=self.gateway_url)
                    await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
                    for guild in self.gateway.guilds:
                        await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": guild}))
        finally:
            self._sockets.remove(ws)
        return ws

    async def wait_identified(self, timeout: float = 5.0) -> dict[str, Any]:
        async def _wait() -> dict[str, Any]:
            async with self._changed:
                while self.identify is None:
                    await self._changed.wait()
                return self.identify

        return await asyncio.wait_for(_wait(), timeout)


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py only parses JSON with that type.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _payload_json_of_multipart(raw: bytes) -> Any:
    """discord.py sends ``payload_json`` as one part of a multipart body when files are attached."""
    match = re.search(rb'name="payload_json"\r\n(?:[^\r\n]*\r\n)*\r\n(.*?)\r\n--', raw, re.S)
    return json.loads(match.group(1)) if match else raw.decode("utf-8", "replace")


@asynccontextmanager
async def aimed_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild, and discord.py aimed at it (the ``fake`` fixtures of the tests)."""
    server = await FakeDiscord().start()
    # discord.py builds every REST URL (bot and interaction webhooks alike) from Route.BASE, and the
    # plain client opens the gateway at DEFAULT_GATEWAY; both are aimed at the loopback fake.
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
    server.gateway.guilds = [p.guild_create()]
    try:
        yield server
    finally:
        await server.close()
