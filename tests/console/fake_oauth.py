"""A loopback fake of Discord's OAuth2 provider: the consent screen (answered at once), the token
endpoint, ``/users/@me`` and ``/users/@me/guilds``, for the console's login tests.

Tests say who logs in next (``login_as``); the consent screen redirects back with a one-time code
bound to that user, the token endpoint checks the client's id, secret and redirect URI.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.support.loopback import LoopbackSite

CLIENT_ID = "4242"
CLIENT_SECRET = "console-test-secret"
API = "/api/v10"

#: Permission bits as Discord sends them (strings).
MANAGE_MESSAGES = str(0x2000)
ADMINISTRATOR = str(0x8)
SEND_MESSAGES = str(0x800)


@dataclass
class OAuthUser:
    """Who logs in, and the partial guilds ``/users/@me/guilds`` lists for them."""

    id: str
    username: str
    guilds: list[dict[str, Any]] = field(default_factory=list)


def guild(guild_id: str, name: str, permissions: str, owner: bool = False) -> dict[str, Any]:
    """A partial guild as ``/users/@me/guilds`` answers it."""
    return {"id": guild_id, "name": name, "icon": None, "owner": owner, "permissions": permissions, "features": []}


class FakeOAuth:
    """Start with ``await FakeOAuth().start()``; point ``[console] discord_api_base``/``discord_authorize_url`` here."""

    def __init__(self) -> None:
        self.next_user: OAuthUser | None = None
        self.token_requests: list[dict[str, str]] = []
        self.secrets_seen: list[str] = []
        self._codes: dict[str, OAuthUser] = {}
        self._tokens: dict[str, OAuthUser] = {}
        self._ids = itertools.count(1)
        self._site = LoopbackSite()
        self.port = 0

    def login_as(self, user: OAuthUser) -> None:
        """The next consent is given by ``user``."""
        self.next_user = user

    async def start(self) -> FakeOAuth:
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post(API + "/oauth2/token", self._token)
        app.router.add_get(API + "/users/@me", self._me)
        app.router.add_get(API + "/users/@me/guilds", self._guilds)
        self.port = await self._site.serve(app)
        return self

    async def close(self) -> None:
        await self._site.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + API

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth2/authorize"

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or set(q.get("scope", "").split()) != {"identify", "guilds"}:
            return web.Response(status=400, text="bad authorize request")
        assert self.next_user is not None, "the test did not say who logs in"
        code = f"code-{next(self._ids)}"
        self._codes[code] = self.next_user
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded or b"").decode().partition(":") if scheme == "Basic" else ("", "", "")
        self.secrets_seen.append(secret)
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        user = self._codes.pop(str(form.get("code")), None)
        if user is None or form.get("grant_type") != "authorization_code" or not str(form.get("redirect_uri", "")).endswith("/auth/discord/callback"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = f"access-{next(self._ids)}"
        self._tokens[token] = user
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 604800, "scope": "identify guilds"})

    def _user(self, request: web.Request) -> OAuthUser:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = self._tokens.get(token) if scheme == "Bearer" else None
        if user is None:
            raise web.HTTPUnauthorized(text='{"message": "401: Unauthorized", "code": 0}', content_type="application/json")
        return user

    async def _me(self, request: web.Request) -> web.StreamResponse:
        user = self._user(request)
        return web.json_response({"id": user.id, "username": user.username, "global_name": user.username, "discriminator": "0"})

    async def _guilds(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._user(request).guilds)
