"""Discord login (OAuth2 authorization code flow, scopes ``identify guilds``).

The guild list's ``permissions`` say where the user may moderate (Manage Messages or Administrator,
or owning the server); only those servers are kept in the session, for ``session_max_age_s``, and
every command runs through the core, scoped to the server and audited. The access token is used during the callback only and never stored or logged.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modbot.domain import ServerRef
from modbot.ports import Core

from .web import ConsoleConfig, check_csrf, redirect, render

__all__ = ["ADMINISTRATOR", "MANAGE_MESSAGES", "MAX_SERVERS", "DiscordLogin", "may_moderate"]

log = logging.getLogger(__name__)

#: At most this many servers are kept in a session (a cookie holds about 4 KB).
MAX_SERVERS = 40
ADMINISTRATOR = 0x8
MANAGE_MESSAGES = 0x2000
SCOPES = "identify guilds"


def may_moderate(guild: dict[str, object]) -> bool:
    """A partial guild of ``/users/@me/guilds``: does its ``permissions`` let the user moderate?"""
    if guild.get("owner") is True:
        return True
    try:
        permissions = int(str(guild.get("permissions", "0")))
    except ValueError:
        return False
    return bool(permissions & (ADMINISTRATOR | MANAGE_MESSAGES))


@dataclass
class DiscordLogin:
    """The login routes, on a shared HTTP client."""

    config: ConsoleConfig
    client: httpx.AsyncClient
    core: Core

    async def login_page(self, request: Request) -> Response:
        """``GET /login``: the sign-in button."""
        return render(request, "login.html", discord=self.config.discord_enabled, slack=self.config.slack_enabled)

    async def start(self, request: Request) -> Response:
        """``GET /auth/discord``: off to Discord's consent screen, with a one-time ``state``."""
        if not self.config.discord_enabled:
            raise HTTPException(404, "Discord login is not set up on this console.")
        state = secrets.token_urlsafe(24)
        request.session["oauth_state"] = state
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.discord_client_id,
                "scope": SCOPES,
                "state": state,
                "redirect_uri": self.config.redirect_uri,
                "prompt": "none",
            }
        )
        return redirect(f"{self.config.discord_authorize_url}?{query}")

    async def callback(self, request: Request) -> Response:
        """``GET /auth/discord/callback``: check ``state``, swap the code for a token, read the user and guilds."""
        expected = request.session.pop("oauth_state", None)
        state = request.query_params.get("state")
        if not expected or not state or not secrets.compare_digest(state, expected):
            raise HTTPException(400, "This login link has expired; start again from the login page.")
        if "error" in request.query_params:
            raise HTTPException(400, f"Discord did not log you in ({request.query_params['error'][:100]}).")
        code = request.query_params.get("code")
        if not code:
            raise HTTPException(400, "Discord sent no authorization code.")
        user, guilds = await self._identify(code)
        request.session.clear()
        request.session["user"] = {"id": str(user["id"]), "name": str(user.get("global_name") or user.get("username") or "")}
        servers = []
        for g in guilds:
            if not (isinstance(g, dict) and "id" in g and may_moderate(g)):
                continue
            # Only servers the bot serves: others have no cases, and the session cookie stays small.
            if await self.core.serves(ServerRef("discord", str(g["id"]))) and len(servers) < MAX_SERVERS:
                servers.append({"platform": "discord", "id": str(g["id"]), "name": str(g.get("name", ""))[:60]})
        request.session["servers"] = servers
        log.info(
            "web console: %s logged in (%d servers to moderate)",
            request.session["user"]["id"],
            len(request.session["servers"]),
        )
        return redirect("/")

    async def _identify(self, code: str) -> tuple[dict[str, object], list[dict[str, object]]]:
        base = self.config.discord_api_base
        try:
            token = await self.client.post(
                f"{base}/oauth2/token",
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.config.redirect_uri},
                auth=(self.config.discord_client_id, self.config.discord_client_secret),
            )
            if token.status_code != 200:
                # Never the body: it may echo what was sent.
                raise HTTPException(502, f"Discord refused the login (token endpoint answered {token.status_code}).")
            access = token.json().get("access_token")
            if not isinstance(access, str) or not access:
                raise HTTPException(502, "Discord's token answer had no access token.")
            headers = {"Authorization": f"Bearer {access}"}
            user = await self.client.get(f"{base}/users/@me", headers=headers)
            guilds = await self.client.get(f"{base}/users/@me/guilds", headers=headers)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"Discord could not be reached ({type(exc).__name__}).") from None
        if user.status_code != 200 or guilds.status_code != 200:
            raise HTTPException(502, f"Discord answered {user.status_code}/{guilds.status_code} for the user and guilds.")
        listed = guilds.json()
        return user.json(), listed if isinstance(listed, list) else []

    async def logout(self, request: Request) -> Response:
        """``POST /logout`` (with its CSRF token): forget the session."""
        await check_csrf(request)
        request.session.clear()
        return redirect("/login")
