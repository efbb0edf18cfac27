"""The Discord client and the adapter object ``modbot serve`` runs.

``DiscordAdapter`` owns one discord.py client (``AutoShardedClient`` when ``discord.sharded`` is
set), its command tree with the ``/mod`` group, the persistent case buttons, and the action sink.
Gateway events are converted (``convert.py``) and handed to ``core.submit``; the ``Core`` facade
(``modbot.ports``) is all the adapter knows of the core.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.utils import MISSING

from modbot.config import DiscordSettings
from modbot.domain import MessageEvent
from modbot.ports import ConnectionWatcher, Core, PlatformAuthError, PlatformUnavailable

from modbot_adapters.connection import OneLineReconnects, Unwatched, one_line, unreachable

from .commands import ModInteractions, build_mod_group, build_report_menu
from .convert import ThreadParents, fetch_context, message_to_event, raw_edit_to_event, server_ref
from .render import CaseButton, QueuePageButton
from .sink import DiscordActionSink, RetryPolicy

__all__ = [
    "DiscordAdapter",
    "DiscordStartupError",
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "MissingMessageContentIntent",
    "build_intents",
    "invite_url",
]

log = logging.getLogger(__name__)

#: What the bot needs in a server: read messages and history, delete messages, time members out,
#: ban (the Ban button), post cases with embeds in the mod-log channel and in threads.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    read_message_history=True,
    manage_messages=True,
    moderate_members=True,
    ban_members=True,
)
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int | str) -> str:
    """The OAuth2 URL that adds the bot to a server with the permissions and scopes it needs."""
    scopes = "%20".join(INVITE_SCOPES)
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&permissions={INVITE_PERMISSIONS.value}&scope={scopes}"
    )


def build_intents() -> discord.Intents:
    """Only what moderation needs: guilds (channels, threads, roles), guild messages and their content.

    ``message_content`` is privileged: it must also be switched on for the application in the
    Developer Portal (Bot → Privileged Gateway Intents → Message Content Intent).
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


class DiscordStartupError(PlatformAuthError):
    """Discord refused the bot (token, intents, sharding): retrying cannot help; the message says what to change."""

    def __init__(self, message: str, *, setting: str = "DISCORD_TOKEN") -> None:
        super().__init__(message, setting=setting)


class MissingMessageContentIntent(DiscordStartupError):
    """Discord closed the gateway with 4014: the application lacks the message-content intent."""

    def __init__(self) -> None:
        super().__init__(
            "Discord refused the connection (gateway close code 4014): this application is not allowed the "
            "privileged Message Content intent, without which the bot cannot read messages. In the Discord "
            "Developer Portal (https://discord.com/developers/applications) open your application → Bot → "
            "Privileged Gateway Intents, switch on 'Message Content Intent', save, and start modbot again.",
            setting="Message Content Intent (Developer Portal)",
        )


class _ModbotEvents:
    """Event handlers shared by the plain and the auto-sharded client (discord.py calls ``on_<event>``)."""

    modbot: DiscordAdapter
    modbot_buttons: ModInteractions

    async def setup_hook(self) -> None:
        await self.modbot.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.modbot.handle_message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.modbot.handle_edit(payload)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.modbot.core.server_joined(server_ref(guild.id), guild.name)

    # The connection's state for the supervisor: discord.py reconnects by itself once logged in.
    async def on_ready(self) -> None:
        self.modbot.watcher.connected()

    async def on_resumed(self) -> None:
        self.modbot.watcher.connected()

    async def on_disconnect(self) -> None:
        if not self.is_closed():  # type: ignore[attr-defined]
            self.modbot.watcher.disconnected("the gateway connection was lost; discord.py is reconnecting")


class ModbotClient(_ModbotEvents, discord.Client):
    """One gateway connection; enough for up to 2,500 guilds."""


def shard_options(settings: DiscordSettings) -> dict[str, Any]:
    """``AutoShardedClient`` arguments for ``[discord] shard_ids``/``shard_count`` (empty: Discord's advice)."""
    options: dict[str, Any] = {}
    if settings.shard_count is not None:
        options["shard_count"] = settings.shard_count
    if settings.shard_ids is not None:
        options["shard_ids"] = list(settings.shard_ids)
    return options


class ModbotShardedClient(_ModbotEvents, discord.AutoShardedClient):
    """As many shards as Discord recommends, or this process's ``[discord] shard_ids`` of ``shard_count``."""


class DiscordAdapter:
    """The Discord platform adapter (``modbot.app.PlatformAdapter``)."""

    platform = "discord"

    def __init__(
        self,
        core: Core,
        settings: DiscordSettings,
        *,
        retry: RetryPolicy = RetryPolicy(),
        notice_ttl_s: float | None = 60.0,
        connect_timeout_s: float = 120.0,
        client_options: dict[str, Any] | None = None,
    ):
        self.core = core
        self.settings = settings
        self.threads = ThreadParents()  # parents of threads discord.py has not cached
        options: dict[str, Any] = {"chunk_guilds_at_startup": False, **(client_options or {})}
        shards = shard_options(settings)
        client_class = ModbotShardedClient if self.settings.sharded or shards else ModbotClient
        self.client: discord.Client = client_class(intents=build_intents(), **shards, **options)
        self.interactions = ModInteractions(core)
        self.client.modbot = self  # type: ignore[attr-defined]
        self.client.modbot_buttons = self.interactions  # type: ignore[attr-defined]
        self.tree = app_commands.CommandTree(self.client)
        self.tree.add_command(build_mod_group(self.interactions))
        self.tree.add_command(build_report_menu(self.interactions))
        self.tree.error(self._on_command_error)
        self.client.add_dynamic_items(CaseButton, QueuePageButton)
        self._sink = DiscordActionSink(
            self.client, retry=retry, notice_ttl_s=notice_ttl_s, connect_timeout_s=connect_timeout_s
        )
        self.watcher: ConnectionWatcher = Unwatched()

    @property
    def sink(self) -> DiscordActionSink:
        """The ``ActionSink`` the composition root registers for ``discord`` servers."""
        return self._sink

    # -- lifecycle ---------------------------------------------------------------------------

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Report the gateway connection's ups and downs to ``watcher`` (the supervisor)."""
        self.watcher = watcher

    def _token(self) -> str:
        if self.settings.token is None or not self.settings.token.get_secret_value().strip():
            raise DiscordStartupError("DISCORD_TOKEN is not set")
        return self.settings.token.get_secret_value()

    async def _reopen(self) -> None:
        """Make the client usable again after a failed attempt (a retry logs in afresh)."""
        if self.client.is_closed():
            # discord.py closed it (an unexpected gateway close): its documented way back is ``clear()``,
            # then the set-up ``async with client`` does (event loop, ready event).
            self.client.clear()
            await self.client.__aenter__()
        # A failed attempt closed its HTTP session, and so the connector the session owned: the next
        # login makes new ones (discord.py would otherwise reuse the closed connector).
        connector = self.client.http.connector
        if connector is not MISSING and connector.closed:
            self.client.http.connector = MISSING

    async def login(self) -> None:
        """Log in over REST and run the setup (command sync) without opening the gateway."""
        await self._reopen()
        try:
            await self.client.login(self._token())
        except discord.LoginFailure:
            raise DiscordStartupError(_REJECTED_TOKEN) from None

    async def run(self) -> None:
        """Log in and serve until closed; discord.py reconnects by itself once logged in.

        A first connection that fails raises ``PlatformUnavailable`` (the supervisor tries again later);
        a refused token or intent raises ``DiscordStartupError`` (a ``PlatformAuthError``).
        """
        _RECONNECT_LOGS.install("discord.client", "discord.shard")
        try:
            await self.login()
            await self.client.connect(reconnect=True)
        except Exception as exc:
            classified = _classified(exc)
            if isinstance(classified, PlatformAuthError):
                await self.close()  # stopped for good
            elif not self.client.is_closed():
                await self.client.http.close()  # no session left open; the next attempt logs in afresh
            if classified is exc:
                raise  # not a known failure: the supervisor shows its traceback once
            raise classified from None

    async def close(self) -> None:
        if not self.client.is_closed():
            await self.client.close()

    async def setup(self) -> None:
        """Called once after login: let actions out, publish ``/mod`` (per guild: at once; globally: within an hour)."""
        self._sink.mark_connected()
        guild_ids = self.settings.command_guild_ids
        try:
            if guild_ids:
                for guild_id in guild_ids:
                    guild = discord.Object(guild_id)
                    self.tree.copy_global_to(guild=guild)
                    synced = await self.tree.sync(guild=guild)
                    log.info("synced %d slash command(s) to guild %s", len(synced), guild_id)
            else:
                synced = await self.tree.sync()
                log.info("synced %d global slash command(s)", len(synced))
        except discord.Forbidden as exc:
            log.error(
                "could not publish /mod (%s): invite the bot with the 'applications.commands' scope (%s)",
                exc,
                invite_url(self.client.application_id or "<application id>"),
            )
        except discord.HTTPException as exc:
            log.error("could not publish /mod: %s", exc)

    async def _on_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Errors before our handler runs (an outdated command, an option Discord could not resolve)."""
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            text = "This command is out of date; it is being updated. Try again in a minute."
        else:
            text = f"That did not work: {error}"
        name = getattr(interaction.command, "qualified_name", "?")
        log.warning("/%s failed in guild %s: %s", name, interaction.guild_id, error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not report the error to the user either")

    # -- events ------------------------------------------------------------------------------

    async def _with_context(self, event: MessageEvent, message: discord.Message) -> MessageEvent:
        settings = await self.core.server_settings(event.server)
        if settings.context_messages <= 0:
            return event
        return replace(event, context=await fetch_context(message, settings.context_messages))

    async def handle_message(self, message: discord.Message) -> None:
        """A new message: convert, attach context if the server wants it, submit it to the core."""
        event = message_to_event(message, where=await self.threads.resolve(message))
        if event is None:
            return
        event = await self._with_context(event, message)
        intake = await self.core.submit(event)
        log.debug("message %s of %s: %s", event.message_id, event.server, intake.status)

    async def handle_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit, of a cached message or not: the new text is judged like a new message."""
        event = raw_edit_to_event(payload, where=await self.threads.resolve(payload.message))
        if event is None:
            return
        event = await self._with_context(event, payload.message)
        intake = await self.core.submit(event)
        log.debug("edit of %s in %s: %s", event.message_id, event.server, intake.status)


#: discord.py's own reconnect loop logs every drop with a traceback; one line with the reason is enough.
_RECONNECT_LOGS = OneLineReconnects(
    "discord", "Discord's gateway", ("Attempting a reconnect", "Failed to connect for shard_id"), ("ConnectionClosed",)
)

_REJECTED_TOKEN = (
    "Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token again from the Developer Portal "
    "(Bot → Reset Token) into DISCORD_TOKEN"
)

#: Gateway close codes that retrying cannot fix, with the setting to change.
_FATAL_CLOSE_CODES = {
    4004: ("DISCORD_TOKEN", "Discord rejected DISCORD_TOKEN (gateway close code 4004): copy the bot token again "
           "from the Developer Portal (Bot → Reset Token) into DISCORD_TOKEN"),
    4010: ("[discord] sharded", "Discord refused the shard settings (gateway close code 4010): unset [discord] sharded"),
    4011: ("[discord] sharded", "Discord requires sharding for this bot (gateway close code 4011): set [discord] sharded = true"),
    4012: ("discord.py", "Discord refused the gateway API version (gateway close code 4012): upgrade modbot"),
    4013: ("intents", "Discord refused the requested intents (gateway close code 4013)"),
}


def _classified(exc: Exception) -> Exception:
    """What ``run()`` raises for ``exc``: a ``PlatformAuthError``, a ``PlatformUnavailable``, or ``exc``."""
    if isinstance(exc, PlatformAuthError | PlatformUnavailable):
        return exc
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return MissingMessageContentIntent()
    if isinstance(exc, discord.ConnectionClosed):
        if exc.code in _FATAL_CLOSE_CODES:
            setting, message = _FATAL_CLOSE_CODES[exc.code]
            return DiscordStartupError(message, setting=setting)
        return PlatformUnavailable(f"Discord closed the gateway connection (code {exc.code})")
    if isinstance(exc, discord.GatewayNotFound):
        return PlatformUnavailable("Discord's gateway is not available (a Discord outage?)")
    if isinstance(exc, discord.HTTPException):
        if exc.status == 401:
            return DiscordStartupError(_REJECTED_TOKEN)
        # 5xx, 429 and the rest: Discord is there but not answering as it should; worth another try.
        return PlatformUnavailable(f"Discord answered {exc.status} {one_line(exc.text) or exc.response.reason}")
    return unreachable(exc, "discord.com") or exc
