"""The console's Starlette application: routes, signed session cookie, security headers, error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modbot.ports import Core

from .admin import AdminPages
from .auth import DiscordLogin
from .cases import CasePages
from .slack_auth import SlackLogin
from .web import HERE, ConsoleConfig, error_page, redirect, render

__all__ = ["ConsoleConfig", "SESSION_COOKIE", "build_app"]

SESSION_COOKIE = "modbot_console"

#: No scripts at all, nothing framed, forms only to ourselves.
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class _SecurityHeaders:
    """Adds ``_HEADERS`` to every answer."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_HEADERS]
            await send(message)

        await self.app(scope, receive, sending)


def build_app(core: Core, config: ConsoleConfig, *, client: httpx.AsyncClient | None = None) -> Starlette:
    """The console on ``core``: Discord login, then each moderated server's pages under ``/servers/{platform}/{id}``."""
    http = client or httpx.AsyncClient(timeout=15.0)
    login = DiscordLogin(config, http, core)
    slack = SlackLogin(config, http, core)
    cases = CasePages(core)
    admin = AdminPages(core)

    async def home(request: Request) -> Response:
        if not request.session.get("user"):
            return redirect("/login")
        return render(request, "servers.html")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_page(request, exc.status_code, str(exc.detail))

    server = "/servers/{platform}/{server_id}"
    routes = [
        Route("/", home),
        Route("/login", login.login_page),
        Route("/auth/discord", login.start),
        Route("/auth/discord/callback", login.callback),
        Route("/auth/slack", slack.start),
        Route("/auth/slack/callback", slack.callback),
        Route("/logout", login.logout, methods=["POST"]),
        Route(server, lambda r: redirect(f"/servers/{r.path_params['platform']}/{r.path_params['server_id']}/queue")),
        Route(server + "/queue", cases.queue),
        Route(server + "/queue/bulk", cases.bulk, methods=["POST"]),
        Route(server + "/cases/{number}", cases.case),
        Route(server + "/cases/{number}/review", cases.review, methods=["POST"]),
        Route(server + "/cases/{number}/action", cases.action, methods=["POST"]),
        Route(server + "/cases/{number}/note", cases.note, methods=["POST"]),
        Route(server + "/stats", admin.stats),
        Route(server + "/policy", admin.policy),
        Route(server + "/policy", admin.policy_post, methods=["POST"]),
        Route(server + "/settings", admin.settings),
        Route(server + "/settings", admin.settings_post, methods=["POST"]),
        Route(server + "/audit", admin.audit),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if client is None:
                await http.aclose()

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=config.session_secret,
                session_cookie=SESSION_COOKIE,
                max_age=config.session_max_age_s,
                same_site="lax",
                https_only=config.secure_cookies,
            ),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
