"""What every page shares: the console's configuration, the session (who is logged in, which servers
they moderate, the CSRF token), templates, and answering with a page, a redirect or an error."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modbot.config import AppSettings
from modbot.domain import ServerRef
from modbot.domain.commands import Invoker, Reply
from modbot.ports import Core

__all__ = [
    "ConsoleConfig",
    "Page",
    "check_csrf",
    "csrf_token",
    "flash",
    "moderated_servers",
    "redirect",
]

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """The console's settings as the app uses them (secrets unwrapped only where they are sent)."""

    base_url: str
    secure_cookies: bool
    session_secret: str
    session_max_age_s: int
    discord_client_id: str = ""
    discord_client_secret: str = ""
    discord_api_base: str = "https://discord.com/api/v10"
    discord_authorize_url: str = "https://discord.com/oauth2/authorize"
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_api_base: str = "https://slack.com/api"
    slack_authorize_url: str = "https://slack.com/openid/connect/authorize"
    #: ``[slack] bot_token``: asks Slack whether a signed-in user is a workspace admin or in a moderator group.
    slack_bot_token: str = ""
    slack_moderator_groups: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: AppSettings, *, base_url: str, secure_cookies: bool) -> ConsoleConfig:
        """From ``[console]`` (and ``[slack]``); without ``session_secret`` a random key for this process."""
        console = settings.console

        def unwrap(value: SecretStr | None) -> str:
            return value.get_secret_value() if value is not None else ""

        slack_ready = bool(console.slack_client_id and unwrap(console.slack_client_secret) and unwrap(settings.slack.bot_token))
        return cls(
            base_url=base_url,
            secure_cookies=secure_cookies,
            session_secret=unwrap(console.session_secret) or secrets.token_urlsafe(32),
            session_max_age_s=console.session_max_age_s,
            discord_client_id=console.discord_client_id or "",
            discord_client_secret=unwrap(console.discord_client_secret),
            discord_api_base=console.discord_api_base.rstrip("/"),
            discord_authorize_url=console.discord_authorize_url,
            slack_client_id=(console.slack_client_id or "") if slack_ready else "",
            slack_client_secret=unwrap(console.slack_client_secret) if slack_ready else "",
            slack_api_base=console.slack_api_base.rstrip("/"),
            slack_authorize_url=console.slack_authorize_url,
            slack_bot_token=unwrap(settings.slack.bot_token) if slack_ready else "",
            slack_moderator_groups=tuple(settings.slack.moderator_usergroup_ids),
        )

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_client_id and self.discord_client_secret)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret and self.slack_bot_token)

    def __repr__(self) -> str:  # the secrets never reach a log line or a traceback's locals
        return f"ConsoleConfig(base_url={self.base_url!r}, secure_cookies={self.secure_cookies})"

    @property
    def redirect_uri(self) -> str:
        """What the Discord application must list as its OAuth2 redirect."""
        return f"{self.base_url}/auth/discord/callback"

    @property
    def slack_redirect_uri(self) -> str:
        """What the Slack app must list as its redirect URL (OAuth & Permissions)."""
        return f"{self.base_url}/auth/slack/callback"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every form carries it as ``csrf``."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> dict[str, Any]:
    """The posted form, after its ``csrf`` field matched the session's (403 otherwise)."""
    form = await request.form()
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from the console; reload the page and try again.")
    return {key: form.getlist(key) if key.endswith("[]") else form.get(key) for key in form.keys()}


def flash(request: Request, reply: Reply) -> None:
    """Show ``reply`` on the next page (post, redirect, get)."""
    request.session["flash"] = {"ok": reply.ok, "title": reply.title, "text": reply.text[:1500]}


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST, the browser GETs the page."""
    return RedirectResponse(url, status_code=303)


def moderated_servers(request: Request) -> list[dict[str, str]]:
    """The servers the logged-in user may moderate (from the login), as ``{platform, id, name}``."""
    return list(request.session.get("servers") or [])


@dataclass(frozen=True, slots=True)
class Page:
    """The request's logged-in moderator and server, with the invoker the core checks again each time."""

    request: Request
    core: Core
    invoker: Invoker
    server_name: str

    @property
    def server(self) -> ServerRef:
        return self.invoker.server

    @property
    def prefix(self) -> str:
        """The server's pages start here."""
        return f"/servers/{self.server.platform}/{self.server.id}"

    @classmethod
    def of(cls, request: Request, core: Core) -> Page:
        """The page's server, when the logged-in user moderates it: else 404 (the same for "no such server")."""
        user = request.session.get("user")
        if not user:
            raise HTTPException(401, "Log in first.")
        platform, server_id = request.path_params["platform"], request.path_params["server_id"]
        for server in moderated_servers(request):
            if server["platform"] == platform and server["id"] == server_id:
                invoker = Invoker(
                    server=ServerRef(platform, server_id),
                    user_id=user["id"],
                    # The platform said so at login (kept for session_max_age_s): the core audits every
                    # command and scopes it to this server, but takes the platform's word as given.
                    platform_moderator=True,
                    display_name=user.get("name", ""),
                )
                return cls(request, core, invoker, server.get("name") or server_id)
        raise HTTPException(404, "No such server among the ones you moderate.")

    async def require_moderator(self) -> None:
        """The core's own permission check (for pages that read without a command): 403 when refused."""
        if not await self.core.is_moderator(self.invoker):
            raise HTTPException(403, "The bot does not let you moderate this server.")

    async def execute(self, command: Any) -> Reply:
        """Run a command through the core (permission-checked and audited there); 403 when refused."""
        reply = await self.core.execute(self.invoker, command)
        if not reply.ok and reply.title == "Not allowed":
            raise HTTPException(403, reply.text)
        return reply

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page of this server."""
        # The tab shown as the current page (a case belongs to the queue).
        active = {"case": "queue"}.get(template.removesuffix(".html"), template.removesuffix(".html"))
        return render(
            self.request, template, status_code, page=self, server_name=self.server_name, active=active, **context
        )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the session's user, CSRF token and flash message."""
    body = TEMPLATES.get_template(template).render(
        user=request.session.get("user"),
        servers=moderated_servers(request),
        csrf=csrf_token(request) if request.session.get("user") else "",
        flash=request.session.pop("flash", None),
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


def error_page(request: Request, status_code: int, detail: str) -> Response:
    """The console's error page (401 sends the browser to the login page)."""
    if status_code == 401:
        return redirect("/login")
    return render(request, "error.html", status_code, status=status_code, detail=detail)
