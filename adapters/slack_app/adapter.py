"""The Slack adapter: a bolt ``AsyncApp`` wired to the core, served by Socket Mode or over HTTP.

Listeners are thin: convert the payload (``convert``), ask the core (``pipeline.submit`` or
``moderators.execute``), render the answer (``blocks``). Every listener acknowledges first, so Slack
gets its answer well within 3 seconds and the work (database, model, API calls) happens afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

from bot.commands import (
    CaseAction,
    CommandSyntaxError,
    Invoker,
    ModCommand,
    PolicyTest,
    PolicyUpload,
    Reply,
    Review,
    ShowQueue,
    ShowReasoning,
    parse_mod_command,
)
from bot.moderation.pipeline import IntakeStatus
from bot.config import AppSettings, SlackSettings

from .blocks import case_message, parse_action_id, reply_message
from .clients import DEFAULT_API_BASE_URL, ClientFactory
from .convert import message_to_event, server_ref, slack_to_plain
from .directory import MemberDirectory
from .installation import DatabaseInstallationStore, MemoryStateStore
from .recent import RecentMessages
from .sink import InstalledTokens, SlackActionSink, StaticTokens, actions_summary

if TYPE_CHECKING:
    from bot.app import Services

__all__ = [
    "BOT_SCOPES",
    "EVENTS_PATH",
    "SlackAdapter",
    "SlackCounters",
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

#: Membership of a group named in ``slack.moderator_usergroup_ids`` is this deployment's grant of
#: moderation rights; Slack itself has no such permission, so the adapter reports the neutral one.
GROUP_MODERATOR_PERMISSION = "moderate_members"


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


def create(services: Services, *, api_base_url: str = DEFAULT_API_BASE_URL) -> SlackAdapter:
    """The Slack adapter for ``modbot serve`` (``api_base_url`` points tests at a loopback Slack)."""
    return SlackAdapter(services, api_base_url=api_base_url)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip() or None


@dataclass(slots=True)
class SlackCounters:
    """What the adapter did with what Slack sent (metrics, and what tests wait on)."""

    message_events: int = 0
    retries_dropped: int = 0
    not_moderated: int = 0
    exempt: int = 0
    #: Recorded by the core (queued, or pending when the queue was full).
    submitted: int = 0
    duplicates: int = 0
    rejected: int = 0
    commands: int = 0
    buttons: int = 0
    #: Message events whose handling finished (whatever the outcome).
    handled: int = 0


class _RecentIds:
    """A bounded set of recently seen Slack event ids (a retry of one of them is dropped)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, value: str) -> bool:
        """True if ``value`` is new."""
        if value in self._ids:
            return False
        self._ids[value] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True

    def discard(self, value: str) -> None:
        self._ids.pop(value, None)

    def clear(self) -> None:
        self._ids.clear()


def _command_text(text: str) -> str:
    # The core's parser separates its verbs with single spaces; a moderator pasting a policy usually
    # starts it on a new line ("/mod policy upload⏎+++ ..."), so the first separators are normalised.
    return re.sub(r"^\s*(\S+)\s+(\S+)\s*", lambda m: f"{m.group(1)} {m.group(2)} ", text, count=1)


def _plain_arguments(command: ModCommand) -> ModCommand:
    # Uploaded policies and test messages arrive in Slack markup (&amp;, <https://...>): restore the
    # text as typed, so the stored policy is the document the moderator wrote.
    if isinstance(command, PolicyUpload):
        return replace(command, text=slack_to_plain(command.text), filename="slack-upload.md")
    if isinstance(command, PolicyTest):
        return replace(command, text=slack_to_plain(command.text))
    return command


def _button_command(verb: str, number: int) -> ModCommand:
    if verb in ("uphold", "overturn"):
        return Review(number, verb)  # type: ignore[arg-type]
    if verb in ("timeout", "ban"):
        return CaseAction(number, verb)  # type: ignore[arg-type]
    if verb == "queue":
        return ShowQueue(number)
    return ShowReasoning(number)


class SlackAdapter:
    """Modbot on Slack. ``run()`` connects (Socket Mode or HTTP) and serves until cancelled."""

    platform = "slack"

    def __init__(self, services: Services, *, api_base_url: str = DEFAULT_API_BASE_URL):
        self.services = services
        self.config: SlackSettings = services.settings.slack
        self.clients = ClientFactory(api_base_url)
        self.directory = MemberDirectory()
        self.recent = RecentMessages()
        self.counters = SlackCounters()
        self._event_ids = _RecentIds()
        self._admin_token = _secret(self.config.admin_user_token)
        self.oauth = bool(self.config.client_id and _secret(self.config.client_secret))
        signing_secret = _secret(self.config.signing_secret) or ""
        common = dict(name="modbot", signing_secret=signing_secret, process_before_response=False)
        if self.oauth:
            self.installations: DatabaseInstallationStore | None = DatabaseInstallationStore(services.store)
            oauth_settings = AsyncOAuthSettings(
                client_id=self.config.client_id,
                client_secret=_secret(self.config.client_secret),
                scopes=list(BOT_SCOPES),
                user_scopes=list(USER_SCOPES),
                installation_store=self.installations,
                state_store=MemoryStateStore(),
            )
            self.tokens: InstalledTokens | StaticTokens = InstalledTokens(self.installations, self._admin_token)
            self.app = AsyncApp(client=self.clients.client(None), oauth_settings=oauth_settings, **common)
            self.app.enable_token_revocation_listeners()
        else:
            bot_token = _secret(self.config.bot_token)
            if not bot_token:
                raise ValueError("Slack needs SLACK_BOT_TOKEN or SLACK_CLIENT_ID + SLACK_CLIENT_SECRET")
            self.installations = None
            self.tokens = StaticTokens(bot_token, self._admin_token)
            self.app = AsyncApp(client=self.clients.client(bot_token), **common)
            self.app.event("app_uninstalled")(self._on_uninstalled)
            self.app.event("tokens_revoked")(self._on_uninstalled)
        self._sink = SlackActionSink(
            tokens=self.tokens, clients=self.clients, server_settings=services.server_settings, store=services.store
        )
        self.app.event("message")(self._on_message)
        self.app.command("/mod")(self._on_mod_command)
        self.app.action(re.compile(r"^modbot:"))(self._on_button)
        self._socket: Any = None
        self._web_runner: web.AppRunner | None = None
        self.http_port: int | None = None

    @property
    def sink(self) -> SlackActionSink:
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

    async def run(self) -> None:
        """Connect and serve until cancelled."""
        self._log_start()
        try:
            if self.config.mode == "http" or self.oauth:
                await self._start_web()
            if self.config.mode == "socket":
                await self._start_socket_mode()
            await asyncio.Event().wait()
        finally:
            await self._stop()

    async def _start_web(self) -> None:
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host="0.0.0.0", port=self.config.http_port)
        await site.start()
        self._web_runner = runner
        sockets = getattr(site._server, "sockets", None) or ()
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http_port
        log.info("Slack: serving %s on port %s", EVENTS_PATH if self.config.mode == "http" else "OAuth pages", self.http_port)

    async def _start_socket_mode(self) -> None:
        # Imported here: the handler opens an aiohttp session at construction, which needs a running loop.
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(
            self.app, app_token=_secret(self.config.app_token), web_client=self.clients.client(None)
        )
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
        await self._stop()

    # -- listeners -------------------------------------------------------------------------------

    def _remember(self, team_id: str | None, context: AsyncBoltContext) -> None:
        if isinstance(self.tokens, InstalledTokens):
            self.tokens.remember(team_id, context.enterprise_id)

    async def _on_message(self, body: dict, context: AsyncBoltContext) -> None:
        self.counters.message_events += 1
        event_id = body.get("event_id")
        # Slack retries an event it thinks we missed (X-Slack-Retry-Num); the first delivery already
        # submitted it. The core dedupes too (message id + content hash), across restarts.
        try:
            if isinstance(event_id, str) and not self._event_ids.add(event_id):
                self.counters.retries_dropped += 1
                return
            await self._take_message(body, context)
        except Exception:
            if isinstance(event_id, str):
                self._event_ids.discard(event_id)
            log.exception("a Slack message event could not be taken in")
        finally:
            self.counters.handled += 1

    async def _take_message(self, body: dict, context: AsyncBoltContext) -> None:
        team_id = body.get("team_id") or context.team_id
        self._remember(team_id, context)
        event = message_to_event(body.get("event") or {}, team_id or "")
        if event is None:
            self.counters.not_moderated += 1
            return
        settings = await self.services.server_settings.get(event.server)
        if event.channel_id in settings.exempt_channel_ids:
            self.counters.exempt += 1
            return
        # Only exempt groups matter for a message; looking them up is cached (see MemberDirectory).
        roles = await self.directory.role_ids(context.client, event.server.id, event.author_id, settings.exempt_role_ids)
        if set(roles) & set(settings.exempt_role_ids):
            self.counters.exempt += 1
            return
        earlier = self.recent.before(event, settings.context_messages)
        self.recent.note(event)
        intake = await self.services.pipeline.submit(replace(event, author_role_ids=roles, context=earlier))
        if intake.status is IntakeStatus.DUPLICATE:
            self.counters.duplicates += 1
        elif intake.status is IntakeStatus.REJECTED:
            self.counters.rejected += 1
        else:
            self.counters.submitted += 1

    async def _on_uninstalled(self, body: dict) -> None:
        log.warning("Slack: the app was uninstalled or its tokens revoked in team %s", body.get("team_id"))

    async def _invoker(self, context: AsyncBoltContext, team_id: str, user_id: str, name: str) -> Invoker:
        server = server_ref(team_id)
        settings = await self.services.server_settings.get(server)
        client = context.client
        permissions = set(await self.directory.permissions(client, team_id, user_id))
        groups = (*self.config.moderator_usergroup_ids, *settings.moderator_role_ids)
        roles = await self.directory.role_ids(client, team_id, user_id, groups)
        if set(roles) & set(self.config.moderator_usergroup_ids):
            permissions.add(GROUP_MODERATOR_PERMISSION)
        return Invoker(server, user_id, roles, frozenset(permissions), name)

    async def _execute(self, context: AsyncBoltContext, team_id: str, user_id: str, name: str, command: ModCommand) -> Reply:
        invoker = await self._invoker(context, team_id, user_id, name)
        return await self.services.moderators.execute(invoker, command)

    async def _on_mod_command(self, ack, body: dict, respond, context: AsyncBoltContext) -> None:
        await ack()  # first: Slack wants an answer within 3 seconds; the reply follows via response_url
        self.counters.commands += 1
        team_id = body.get("team_id") or context.team_id or ""
        self._remember(team_id, context)
        user_id = body.get("user_id") or ""
        try:
            command = _plain_arguments(parse_mod_command(_command_text(body.get("text") or "")))
        except CommandSyntaxError as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        try:
            reply = await self._execute(context, team_id, user_id, body.get("user_name") or "", command)
        except Exception:
            log.exception("/mod %s failed", getattr(command, "name", "?"))
            reply = Reply(False, "Something went wrong", "The error is in the bot's log.")
        await respond(**reply_message(reply, queue_pager=isinstance(command, ShowQueue)))

    async def _on_button(self, ack, body: dict, action: dict, respond, context: AsyncBoltContext) -> None:
        await ack()
        self.counters.buttons += 1
        press = parse_action_id(action.get("action_id") or "")
        if press is None:
            return
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id") or context.team_id or ""
        self._remember(team_id, context)
        command = _button_command(press.verb, press.number)
        try:
            reply = await self._execute(context, team_id, user.get("id") or "", user.get("username") or user.get("name") or "", command)
        except Exception:
            log.exception("the %s button failed", press.verb)
            reply = Reply(False, "Something went wrong", "The error is in the bot's log.")
        if isinstance(command, Review) and reply.ok and reply.case is not None:
            # The case post itself changes: new status, who reviewed it, no more review buttons.
            taken = actions_summary(await self.services.store.actions_for_case(reply.case.event.server, reply.case.id))
            await respond(replace_original=True, **case_message(reply.case, actions_taken=taken, reviewed_by=user.get("id")))
        elif isinstance(command, ShowQueue):
            await respond(replace_original=True, **reply_message(reply, queue_pager=True))
        else:
            await respond(replace_original=False, **reply_message(reply))
