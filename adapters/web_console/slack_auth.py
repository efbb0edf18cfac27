""""Sign in with Slack" (OpenID Connect, scopes ``openid profile``).

Slack's userInfo names the user and their workspace; whether they moderate it is asked of Slack with
the bot's own token, by the same rule as the Slack adapter's: a workspace admin or owner
(``users.info``), or a member of one of ``[slack] moderator_usergroup_ids`` (``usergroups.users.list``).
A user of a workspace the bot token does not belong to moderates nothing. The user's access token is
used once, in the callback, and neither stored nor logged.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modbot.domain import ServerRef
from modbot.ports import Core

from .web import ConsoleConfig, redirect

__all__ = ["SlackLogin"]

log = logging.getLogger(__name__)

SCOPES = "openid profile"


@dataclass
class SlackLogin:
    """The Slack login routes, on a shared HTTP client."""

    config: ConsoleConfig
    client: httpx.AsyncClient
    core: Core

    async def start(self, request: Request) -> Response:
        """``GET /auth/slack``: off to Slack's consent screen, with a one-time ``state`` and ``nonce``."""
        if not self.config.slack_enabled:
            raise HTTPException(404, "Sign in with Slack is not set up on this console.")
        state = secrets.token_urlsafe(24)
        request.session["slack_state"] = state
        query = urlencode(
            {
                "response_type": "code",
                "scope": SCOPES,
                "client_id": self.config.slack_client_id,
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "redirect_uri": self.config.slack_redirect_uri,
            }
        )
        return redirect(f"{self.config.slack_authorize_url}?{query}")

    async def callback(self, request: Request) -> Response:
        """``GET /auth/slack/callback``: check ``state``, swap the code, read the user, ask whether they moderate."""
        expected = request.session.pop("slack_state", None)
        state = request.query_params.get("state")
        if not self.config.slack_enabled or not expected or not state or not secrets.compare_digest(state, expected):
            raise HTTPException(400, "This login link has expired; start again from the login page.")
        code = request.query_params.get("code")
        if not code:
            raise HTTPException(400, f"Slack did not log you in ({request.query_params.get('error', 'no code')[:100]}).")
        info = await self._user_info(code)
        user_id = str(info.get("https://slack.com/user_id") or info.get("sub") or "")
        team_id = str(info.get("https://slack.com/team_id") or "")
        if not user_id or not team_id:
            raise HTTPException(502, "Slack's answer named no user or workspace.")
        moderates = await self.core.serves(ServerRef("slack", team_id)) and await self._moderates(team_id, user_id)
        request.session.clear()
        request.session["user"] = {"id": user_id, "name": str(info.get("name") or "")[:100]}
        team_name = str(info.get("https://slack.com/team_name") or team_id)[:100]
        request.session["servers"] = [{"platform": "slack", "id": team_id, "name": team_name}] if moderates else []
        log.info("web console: %s logged in with Slack (%s)", user_id, "moderator" if moderates else "not a moderator")
        return redirect("/")

    async def _call(self, method: str, token: str, **params: str) -> dict[str, Any]:
        try:
            answer = await self.client.post(
                f"{self.config.slack_api_base}/{method}", data=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"Slack could not be reached ({type(exc).__name__}).") from None
        if answer.status_code != 200:
            raise HTTPException(502, f"Slack answered {answer.status_code} to {method}.")
        body = answer.json()
        return body if isinstance(body, dict) else {}

    async def _user_info(self, code: str) -> dict[str, Any]:
        try:
            token = await self.client.post(
                f"{self.config.slack_api_base}/openid.connect.token",
                data={
                    "client_id": self.config.slack_client_id,
                    "client_secret": self.config.slack_client_secret,
                    "code": code,
                    "redirect_uri": self.config.slack_redirect_uri,
                },
            )
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"Slack could not be reached ({type(exc).__name__}).") from None
        body = token.json() if token.status_code == 200 else {}
        access = body.get("access_token") if isinstance(body, dict) and body.get("ok") else None
        if not isinstance(access, str) or not access:
            # Slack's error code only (``invalid_code``...): never the body, which may echo what was sent.
            error = body.get("error", token.status_code) if isinstance(body, dict) else token.status_code
            raise HTTPException(502, f"Slack refused the login ({str(error)[:60]}).")
        info = await self._call("openid.connect.userInfo", access)
        if not info.get("ok"):
            raise HTTPException(502, f"Slack refused the user info ({str(info.get('error'))[:60]}).")
        return info

    async def _moderates(self, team_id: str, user_id: str) -> bool:
        """The Slack adapter's rule, asked with the bot token: admin or owner, or in a moderator user group."""
        bot = self.config.slack_bot_token
        found = await self._call("users.info", bot, user=user_id)
        user = found.get("user") if found.get("ok") else None
        if not isinstance(user, dict) or str(user.get("team_id") or "") != team_id:
            return False  # not a member of the bot's workspace
        if user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"):
            return True
        for group in self.config.slack_moderator_groups:
            members = await self._call("usergroups.users.list", bot, usergroup=group)
            if members.get("ok") and user_id in (members.get("users") or []):
                return True
        return False
