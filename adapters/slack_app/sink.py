"""The Slack action executor (the core's ``ActionSink``) and where its tokens come from.

Slack's rules shape this module:

* ``chat.delete`` with a bot token deletes only the bot's own messages. Removing a member's message
  needs the user token of a workspace admin (or owner). Without one, DELETE reports
  "not deleted: no admin user token" as a permission problem (the core then tells the moderators
  once) and the case is still posted, so moderation degrades to flag-and-notify.
* Slack has no member timeouts and no bot-accessible bans: TIMEOUT and BAN report that plainly.
* Warnings go by ephemeral message in the channel, or by direct message when that is not possible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import Action, ActionKind, ActionOutcome, ServerRef
from bot.moderation.resolvers import SettingsResolver
from bot.store.repository import Store

from .blocks import case_message
from .clients import ClientFactory
from .convert import mrkdwn_escape
from .installation import DatabaseInstallationStore

__all__ = [
    "InstalledTokens",
    "NO_ADMIN_TOKEN",
    "SlackActionSink",
    "StaticTokens",
    "TokenSource",
    "actions_summary",
]

log = logging.getLogger(__name__)

NO_ADMIN_TOKEN = (
    "not deleted: no admin user token (set SLACK_ADMIN_USER_TOKEN to a workspace admin's xoxp- token); "
    "the case is posted for a moderator to remove it"
)
NO_TIMEOUT = "not available on Slack: Slack has no member timeouts (a moderator can remove the member from channels)"
NO_BAN = "not available on Slack: bots cannot deactivate members (a workspace admin can, in the admin pages or via SCIM)"

#: Errors that repeat until a person changes something (a scope, a channel membership, a token).
_NEEDS_A_HUMAN = frozenset(
    {
        "account_inactive",
        "cant_delete_message",
        "channel_not_found",
        "ekm_access_denied",
        "invalid_auth",
        "is_archived",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "token_revoked",
    }
)
#: ``chat.postEphemeral`` failures after which a direct message may still reach the member.
_TRY_DIRECT_MESSAGE = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived"})


class TokenSource(Protocol):
    """Which tokens act in a workspace."""

    async def bot_token(self, team_id: str) -> str | None: ...

    async def admin_token(self, team_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StaticTokens:
    """Single-workspace setup: one bot token (``SLACK_BOT_TOKEN``), optionally an admin user token."""

    bot: str
    admin: str | None = None

    async def bot_token(self, team_id: str) -> str | None:
        return self.bot

    async def admin_token(self, team_id: str) -> str | None:
        return self.admin


class InstalledTokens:
    """Multi-workspace setup: each workspace's bot token from its OAuth installation.

    The admin token is the installing user's token when the install granted ``chat:write`` as a user
    scope (it deletes members' messages only if that user is a workspace admin), else the configured
    ``SLACK_ADMIN_USER_TOKEN``.
    """

    def __init__(self, installations: DatabaseInstallationStore, admin: str | None = None):
        self.installations = installations
        self.admin = admin
        self._enterprise_of: dict[str, str | None] = {}

    def remember(self, team_id: str | None, enterprise_id: str | None) -> None:
        """Note a workspace's Enterprise Grid org (seen on its requests), needed to find its install."""
        if team_id:
            self._enterprise_of[team_id] = enterprise_id

    async def bot_token(self, team_id: str) -> str | None:
        bot = await self.installations.async_find_bot(enterprise_id=self._enterprise_of.get(team_id), team_id=team_id)
        return bot.bot_token if bot is not None else None

    async def admin_token(self, team_id: str) -> str | None:
        installation = await self.installations.async_find_installation(
            enterprise_id=self._enterprise_of.get(team_id), team_id=team_id
        )
        if installation is not None and installation.user_token and "chat:write" in (installation.user_scopes or ()):
            return installation.user_token
        return self.admin


def actions_summary(rows: list) -> list[str]:
    """One line per action already taken on a case (``ActionRow``s), for the case post."""
    lines = []
    for row in rows:
        if row.kind in (ActionKind.POST_CASE.value, ActionKind.NOTIFY_MODS.value):
            continue
        lines.append(f"{row.kind}: {'done' if row.ok else 'not done'}" + (f" ({row.detail})" if row.detail else ""))
    return lines


class SlackActionSink:
    """Carries out the core's actions in a Slack workspace; never raises for a Slack-side failure."""

    def __init__(self, *, tokens: TokenSource, clients: ClientFactory, server_settings: SettingsResolver, store: Store):
        self.tokens = tokens
        self.clients = clients
        self.server_settings = server_settings
        self.store = store
        self._handlers = {
            ActionKind.DELETE: self._delete,
            ActionKind.TIMEOUT: self._not_on_slack,
            ActionKind.BAN: self._not_on_slack,
            ActionKind.WARN: self._warn,
            ActionKind.POST_CASE: self._post_case,
            ActionKind.NOTIFY_MODS: self._notify_mods,
        }

    async def execute(self, action: Action) -> ActionOutcome:
        handler = self._handlers.get(action.kind)
        if handler is None:
            return ActionOutcome(False, f"unknown action {action.kind!r}")
        try:
            return await handler(action)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            needed = exc.response.get("needed")
            detail = f"Slack refused {action.kind.value}: {error}" + (f" (needs scope {needed})" if needed else "")
            log.warning("%s in %s: %s", action.kind.value, action.server, detail)
            return ActionOutcome(False, detail, permission_problem=error in _NEEDS_A_HUMAN)
        except (TimeoutError, SlackClientError, OSError) as exc:
            log.warning("%s in %s: Slack unreachable (%s)", action.kind.value, action.server, exc)
            return ActionOutcome(False, f"Slack could not be reached: {type(exc).__name__}: {exc}")

    # -- helpers ---------------------------------------------------------------------------------

    async def _bot(self, server: ServerRef):
        token = await self.tokens.bot_token(server.id)
        if not token:
            raise _NoToken(f"no bot token for workspace {server.id} (is the app installed there?)")
        return self.clients.client(token)

    async def _case_deleted(self, action: Action) -> bool:
        if action.case is None:
            return False
        rows = await self.store.actions_for_case(action.server, action.case.id)
        return any(row.kind == ActionKind.DELETE.value and row.ok for row in rows)

    # -- actions ---------------------------------------------------------------------------------

    async def _delete(self, action: Action) -> ActionOutcome:
        if not action.channel_id or not action.message_id:
            return ActionOutcome(False, "nothing to delete: the action names no channel or message")
        token = await self.tokens.admin_token(action.server.id)
        if not token:
            return ActionOutcome(False, NO_ADMIN_TOKEN, permission_problem=True)
        try:
            await self.clients.client(token).chat_delete(channel=action.channel_id, ts=action.message_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "message_not_found":
                return ActionOutcome(True, "already deleted")
            raise
        return ActionOutcome(True, "deleted with the admin user token", platform_ref=f"{action.channel_id}/{action.message_id}")

    async def _not_on_slack(self, action: Action) -> ActionOutcome:
        return ActionOutcome(False, NO_TIMEOUT if action.kind is ActionKind.TIMEOUT else NO_BAN)

    async def _warn(self, action: Action) -> ActionOutcome:
        if not action.user_id:
            return ActionOutcome(False, "nobody to warn: the action names no member")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        where = f" in <#{action.channel_id}>" if action.channel_id else ""
        what = "was removed" if await self._case_deleted(action) else "was flagged for the moderators"
        text = f"Your message{where} {what} because it breaks this community's rules: {mrkdwn_escape(action.reason) or 'see the rules'}"
        if action.channel_id:
            thread_ts = action.case.event.thread_id if action.case is not None else None
            try:
                await bot.chat_postEphemeral(channel=action.channel_id, user=action.user_id, text=text, thread_ts=thread_ts)
                return ActionOutcome(True, "warned by ephemeral message")
            except SlackApiError as exc:
                if exc.response.get("error") not in _TRY_DIRECT_MESSAGE:
                    raise
        opened = await bot.conversations_open(users=action.user_id)
        channel = (opened.get("channel") or {}).get("id")
        if not channel:
            return ActionOutcome(False, "could not open a direct message with the member")
        await bot.chat_postMessage(channel=channel, text=text)
        return ActionOutcome(True, "warned by direct message")

    async def _mod_channel(self, server: ServerRef) -> str | None:
        return (await self.server_settings.get(server)).mod_channel_id

    async def _post_case(self, action: Action) -> ActionOutcome:
        case = action.case
        if case is None:
            return ActionOutcome(False, "no case to post")
        channel = await self._mod_channel(action.server)
        if not channel:
            log.warning("case #%s of %s not posted: no mod channel is configured (mod_channel_id)", case.id, action.server)
            return ActionOutcome(False, "no mod channel configured (mod_channel_id)")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        taken = actions_summary(await self.store.actions_for_case(action.server, case.id))
        message = case_message(case, actions_taken=taken)
        response = await bot.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **message)
        ref = f"{response.get('channel') or channel}/{response.get('ts')}"
        await self.store.set_case_posted_ref(action.server, case.id, ref)
        return ActionOutcome(True, "case posted", platform_ref=ref)

    async def _notify_mods(self, action: Action) -> ActionOutcome:
        channel = await self._mod_channel(action.server)
        if not channel:
            log.warning("notice for the moderators of %s not posted (no mod channel): %s", action.server, action.reason)
            return ActionOutcome(False, "no mod channel configured (mod_channel_id)")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        response = await bot.chat_postMessage(channel=channel, text=f":warning: {mrkdwn_escape(action.reason)}")
        return ActionOutcome(True, "moderators notified", platform_ref=f"{channel}/{response.get('ts')}")


class _NoToken(LookupError):
    pass
