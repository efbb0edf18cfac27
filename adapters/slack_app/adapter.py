"""The Slack adapter: a bolt ``AsyncApp`` wired to the core, served by Socket Mode or over HTTP.

Listeners are thin and live by concern: message events in ``events``, ``/mod`` and the buttons in
``commands``, actions out in ``sink``. This module builds the bolt app (single workspace with a bot
token, or multi-workspace with OAuth installs) and serves it. The core is reached only through the
``Core`` facade (``modbot.ports``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError

from modbot.config import AppSettings, SlackSettings
from modbot.ports import ConnectionWatcher, Core, PlatformAuthError, PlatformUnavailable

from modbot_adapters.connection import OneLineReconnects, Unwatched, unreachable

from .clients import DEFAULT_API_BASE_URL, ClientFactory
from .commands import REPORT_CALLBACK_ID, SlackCommands
from .convert import server_ref
from .directory import MemberDirectory
from .events import MessageIntake, SlackCounters
from .installation import InstalledTokens, OAuthStores, StaticTokens, oauth_stores
from .sink import SlackActionSink

__all__ = [
    "BOT_SCOPES",
    "EVENTS_PATH",
    "SlackAdapter",
    "USER_SCOPES",
    "create",
    "missing_settings",
]

log = logging.getLogger(__name__)

#: Exactly the bot scopes the adapter uses (slack/manifest.yml lists the same; a test keeps them equal).
BOT_SCOPES = (
    "channels:history",
    "groups:history",
    "chat:write",
    "commands",
    "users:read",
    "usergroups:read",
    "im:write",
)
#: The user scope that lets a workspace admin's token delete members' messages.
USER_SCOPES = ("chat:write",)
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def missing_settings(settings: AppSettings) -> list[str]:
    """The environment variables the Slack adapter still needs (empty: ready to serve)."""
    slack = settings.slack
    missing = []
    bot_token = _secret(slack.bot_token)
    oauth = bool(slack.client_id and _secret(slack.client_secret))
    if not oauth:
        if not bot_token:
            missing.append("SLACK_BOT_TOKEN (or SLACK_CLIENT_ID + SLACK_CLIENT_SECRET)")
        elif not bot_token.startswith("xoxb-"):
            missing.append("SLACK_BOT_TOKEN (a bot token starting with xoxb-)")
    if slack.mode == "socket":
        app_token = _secret(slack.app_token)
        if not app_token:
            missing.append("SLACK_APP_TOKEN (socket mode) or SLACK_SIGNING_SECRET (http mode)")
        elif not app_token.startswith("xapp-"):
            missing.append("SLACK_APP_TOKEN (an app-level token starting with xapp-)")
    elif not _secret(slack.signing_secret):
        missing.append("SLACK_SIGNING_SECRET (http mode)")
    return missing


def create(core: Core, settings: AppSettings, *, api_base_url: str = DEFAULT_API_BASE_URL) -> SlackAdapter:
    """The Slack adapter for ``modbot serve`` (``api_base_url`` points tests at a loopback Slack).

    OAuth installs are kept in the bot's database (``settings.database_url``), in the adapter's own tables.
    """
    return SlackAdapter(core, settings.slack, database_url=settings.database_url, api_base_url=api_base_url)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip() or None


class SlackAdapter:
    """Modbot on Slack. ``run()`` connects (Socket Mode or HTTP) and serves until cancelled."""

    platform = "slack"

    def __init__(
        self, core: Core, config: SlackSettings, *, database_url: str, api_base_url: str = DEFAULT_API_BASE_URL
    ):
        self.core = core
        self.config = config
        self.clients = ClientFactory(api_base_url)
        self.counters = SlackCounters()
        directory = MemberDirectory()
        self._admin_token = _secret(config.admin_user_token)
        self.oauth = bool(config.client_id and _secret(config.client_secret))
        signing_secret = _secret(config.signing_secret) or ""
        # Bolt names a logger after the app and copies the root logger's level onto it at this moment:
        # named "modbot", it would set the level of every modbot.* logger (the core's) for good.
        common = dict(name="modbot-slack", signing_secret=signing_secret, process_before_response=False)
        self.stores: OAuthStores | None = None
        if self.oauth:
            self.stores = oauth_stores(database_url, str(config.client_id))
            oauth_settings = AsyncOAuthSettings(
                client_id=config.client_id,
                client_secret=_secret(config.client_secret),
                scopes=list(BOT_SCOPES),
                user_scopes=list(USER_SCOPES),
                installation_store=self.stores.installations,
                state_store=self.stores.states,
                callback_options=AsyncCallbackOptions(success=self._installed, failure=_install_failed),
            )
            self.tokens: InstalledTokens | StaticTokens = InstalledTokens(self.stores.installations, self._admin_token)
            self.app = AsyncApp(client=self.clients.client(None), oauth_settings=oauth_settings, **common)
            self.app.enable_token_revocation_listeners()
        else:
            bot_token = _secret(config.bot_token)
            if not bot_token:
                raise ValueError("Slack needs SLACK_BOT_TOKEN or SLACK_CLIENT_ID + SLACK_CLIENT_SECRET")
            self.tokens = StaticTokens(bot_token, self._admin_token)
            self.app = AsyncApp(client=self.clients.client(bot_token), **common)
            self.app.event("app_uninstalled")(self._on_uninstalled)
            self.app.event("tokens_revoked")(self._on_uninstalled)
        self._sink = SlackActionSink(tokens=self.tokens, clients=self.clients)
        self.intake = MessageIntake(core, directory, self.counters, self._remember)
        self.commands = SlackCommands(core, config, directory, self.counters, self._remember)
        self.app.event("message")(self.intake.on_message)
        self.app.command("/mod")(self.commands.on_mod_command)
        self.app.action(re.compile(r"^modbot:"))(self.commands.on_button)
        # ``shortcut`` listeners take message shortcuts (``message_action``) as well as global ones.
        self.app.shortcut(REPORT_CALLBACK_ID)(self.commands.on_report)
        self._socket: Any = None
        self._web_runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.watcher: ConnectionWatcher = Unwatched()
        self._announced = False  # the start-up warnings are said once, not at every retry

    @property
    def sink(self) -> SlackActionSink:
        """The ``ActionSink`` the composition root registers for ``slack`` workspaces."""
        return self._sink

    # -- serving ---------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """The aiohttp application: signed requests (HTTP mode), the OAuth install pages, a health check.

        In Socket Mode no events endpoint is served: it would have no signing secret to check against.
        """
        app = web.Application()
        if self.config.mode == "http":
            app.router.add_post(EVENTS_PATH, self._handle_post)
        flow = self.app.oauth_flow
        if flow is not None:
            app.router.add_get(flow.install_path, self._handle_install)
            app.router.add_get(flow.redirect_uri_path, self._handle_oauth_redirect)
        app.router.add_get(HEALTH_PATH, self._handle_health)
        return app

    async def _handle_post(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

    async def _handle_install(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.app.oauth_flow.handle_installation(await to_bolt_request(request)))

    async def _handle_oauth_redirect(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.app.oauth_flow.handle_callback(await to_bolt_request(request)))

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _log_start(self) -> None:
        workspaces = "multi-workspace (OAuth installs)" if self.oauth else "single workspace (SLACK_BOT_TOKEN)"
        log.info("Slack: %s mode, %s", self.config.mode, workspaces)
        if self._admin_token is None:
            if self.oauth:
                log.warning(
                    "Slack: no SLACK_ADMIN_USER_TOKEN; messages are deleted only in workspaces installed by an "
                    "admin who granted the chat:write user scope. Elsewhere violations are flagged to the mod channel."
                )
            else:
                log.warning(
                    "Slack: no SLACK_ADMIN_USER_TOKEN, so members' messages CANNOT be deleted (a bot token only "
                    "deletes the bot's own messages). Violations are flagged to the mod channel instead."
                )
        elif not self._admin_token.startswith("xoxp-"):
            log.warning("Slack: SLACK_ADMIN_USER_TOKEN does not look like a user token (xoxp-); deleting will fail")

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Tell ``watcher`` (the supervisor) once Slack is connected (or the web app listens)."""
        self.watcher = watcher

    async def run(self) -> None:
        """Check the tokens, connect (Socket Mode) or listen (HTTP mode), and serve until cancelled.

        Raises ``PlatformAuthError`` when Slack refuses a token (``invalid_auth``...) and
        ``PlatformUnavailable`` when Slack cannot be reached (the supervisor tries again later).
        """
        if not self._announced:
            self._announced = True
            self._log_start()
            _RECONNECT_LOGS.install("slack_sdk.socket_mode.aiohttp")
        if self.stores is not None and (claimed := await self.stores.adopt_unclaimed()):
            log.info("Slack: took over %d installation row(s) kept before the OAuth stores moved", claimed)
        try:
            if not self.oauth:
                await self._check(self.clients.client(_secret(self.config.bot_token)).auth_test(), "SLACK_BOT_TOKEN")
            if self.config.mode == "http" or self.oauth:
                await self._start_web()
            if self.config.mode == "socket":
                await self._start_socket_mode()
            self.watcher.connected()
            await asyncio.Event().wait()
        except Exception as exc:
            classified = _classified(exc)
            if classified is exc:
                raise  # not a known failure: the supervisor shows its traceback once
            raise classified from None
        finally:
            await self._stop()

    async def _check(self, call: Awaitable[Any], setting: str) -> Any:
        """A Web API call whose refusal means ``setting`` is wrong: ``PlatformAuthError`` naming it."""
        try:
            return await call
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in _AUTH_ERRORS:
                raise PlatformAuthError(
                    f"Slack rejected {setting} ({error}): copy it again from your app's settings at "
                    "https://api.slack.com/apps and restart modbot",
                    setting=setting,
                ) from None
            raise PlatformUnavailable(f"Slack answered {error or exc.response.status_code}") from None

    async def _start_web(self) -> None:
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host="0.0.0.0", port=self.config.http_port)
        self._web_runner = runner
        try:
            await site.start()
        except OSError as exc:
            raise PlatformUnavailable(
                f"cannot listen on port {self.config.http_port} ({exc.strerror or exc}); choose another [slack] http_port"
            ) from None
        sockets = getattr(site._server, "sockets", None) or ()
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http_port
        log.info("Slack: serving %s on port %s", EVENTS_PATH if self.config.mode == "http" else "OAuth pages", self.http_port)

    async def _start_socket_mode(self) -> None:
        # Imported here: the handler opens an aiohttp session at construction, which needs a running loop.
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        app_token = _secret(self.config.app_token)
        # slack-sdk's connect() retries every failure forever, a refused token too; so the first
        # connection URL is fetched here, where a refused SLACK_APP_TOKEN can stop Slack with one line.
        opened = await self._check(
            self.clients.client(None).apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN"
        )
        self._socket = AsyncSocketModeHandler(self.app, app_token=app_token, web_client=self.clients.client(None))
        self._socket.client.wss_uri = opened["url"]
        await self._socket.connect_async()
        log.info("Slack: connected with Socket Mode")

    async def _stop(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            try:
                await socket.close_async()
            except Exception:
                log.exception("closing the Socket Mode connection failed")
        runner, self._web_runner = self._web_runner, None
        if runner is not None:
            await runner.cleanup()

    async def close(self) -> None:
        """Stop serving and let go of the OAuth stores' database connections."""
        await self._stop()
        if self.stores is not None:
            await self.stores.aclose()

    # -- listeners -------------------------------------------------------------------------------

    def _remember(self, team_id: str | None, context: AsyncBoltContext) -> None:
        if isinstance(self.tokens, InstalledTokens):
            self.tokens.remember(team_id, context.enterprise_id)

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        """An OAuth install finished (and is saved): the workspace is a server the core knows."""
        installation = args.installation
        if installation.team_id:
            await self.core.server_joined(server_ref(installation.team_id), installation.team_name or "")
        log.info("Slack: installed in team %s (enterprise %s)", installation.team_id, installation.enterprise_id)
        return await args.default.success(args)

    async def _on_uninstalled(self, body: dict) -> None:
        log.warning("Slack: the app was uninstalled or its tokens revoked in team %s", body.get("team_id"))


async def _install_failed(args: AsyncFailureArgs) -> BoltResponse:
    return await args.default.failure(args)


#: Slack's answers for a token it will not take: retrying cannot help.
_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)

#: slack-sdk's Socket Mode client logs each failed reconnect with a traceback; one line is enough.
_RECONNECT_LOGS = OneLineReconnects("slack", "Slack", ("Failed to connect",), ("SlackApiError",))


def _classified(exc: Exception) -> Exception:
    """What ``run()`` raises for ``exc``: a ``PlatformAuthError``, a ``PlatformUnavailable``, or ``exc``."""
    if isinstance(exc, PlatformAuthError | PlatformUnavailable):
        return exc
    if isinstance(exc, SlackApiError):
        return PlatformUnavailable(f"Slack answered {exc.response.get('error') if exc.response is not None else exc}")
    return unreachable(exc, "slack.com") or exc
