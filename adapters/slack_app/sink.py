"""The Slack action executor: the core's ``ActionSink`` for Slack workspaces.

The ``Action`` carries everything it needs (the mod channel, the member's notice, what was already
done on the case): the sink never asks the core anything, and returns what it posted as
``ActionOutcome.platform_ref`` (the core stores a posted case's reference itself).

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

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from modbot.domain import Action, ActionKind, ActionOutcome, ServerRef

from .blocks import case_message
from .clients import ClientFactory
from .convert import mrkdwn_escape
from .installation import TokenSource

__all__ = ["NO_ADMIN_TOKEN", "SlackActionSink"]

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


class SlackActionSink:
    """Carries out the core's actions in a Slack workspace; never raises for a Slack-side failure."""

    def __init__(self, *, tokens: TokenSource, clients: ClientFactory):
        self.tokens = tokens
        self.clients = clients
        self._handlers = {
            ActionKind.DELETE: self._delete,
            ActionKind.TIMEOUT: self._not_on_slack,
            ActionKind.BAN: self._not_on_slack,
            ActionKind.WARN: self._warn,
            ActionKind.POST_CASE: self._post_case,
            ActionKind.NOTIFY_MODS: self._notify_mods,
            ActionKind.UPDATE_CASE: self._update_case,
        }

    async def execute(self, action: Action) -> ActionOutcome:
        """Carry out one action; every Slack-side failure becomes an outcome (never an exception)."""
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
            # The clients' own retry handlers already waited out 429s and 5xx; one still failing is
            # left to the core's outbox, which tries again later with backoff.
            status = getattr(exc.response, "status_code", 200)
            transient = status == 429 or status >= 500 or error == "ratelimited"
            return ActionOutcome(
                False, detail, permission_problem=error in _NEEDS_A_HUMAN, retry_after_s=0.0 if transient else None
            )
        except (TimeoutError, SlackClientError, OSError) as exc:
            log.warning("%s in %s: Slack unreachable (%s)", action.kind.value, action.server, exc)
            return ActionOutcome(False, f"Slack could not be reached: {type(exc).__name__}: {exc}", retry_after_s=0.0)

    # -- helpers ---------------------------------------------------------------------------------

    async def _bot(self, server: ServerRef) -> AsyncWebClient:
        token = await self.tokens.bot_token(server.id)
        if not token:
            raise _NoToken(f"no bot token for workspace {server.id} (is the app installed there?)")
        return self.clients.client(token)

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
        text = _warning_text(action)
        if action.channel_id:
            try:
                await bot.chat_postEphemeral(
                    channel=action.channel_id, user=action.user_id, text=text, thread_ts=action.thread_id
                )
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

    async def _post_case(self, action: Action) -> ActionOutcome:
        case = action.case
        if case is None:
            return ActionOutcome(False, "no case to post")
        if case.posted_ref:
            return ActionOutcome(True, "already posted", platform_ref=case.posted_ref)
        channel = action.mod_channel_id
        if not channel:
            log.warning("case #%s of %s not posted: no mod channel is configured (mod_channel_id)", case.display_number, action.server)
            return ActionOutcome(False, "no mod channel configured (mod_channel_id)")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        message = case_message(case, actions_taken=action.taken)
        response = await bot.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **message)
        return ActionOutcome(True, "case posted", platform_ref=f"{response.get('channel') or channel}/{response.get('ts')}")

    async def _update_case(self, action: Action) -> ActionOutcome:
        """Redraw a posted case after a review made elsewhere (the web console): ``chat.update`` on its post."""
        case = action.case
        if case is None or not case.posted_ref or "/" not in case.posted_ref:
            return ActionOutcome(False, "no posted case to update")
        channel, _, ts = case.posted_ref.partition("/")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        await bot.chat_update(channel=channel, ts=ts, **case_message(case, actions_taken=action.taken))
        return ActionOutcome(True, "case post updated", platform_ref=case.posted_ref)

    async def _notify_mods(self, action: Action) -> ActionOutcome:
        channel = action.mod_channel_id
        if not channel:
            log.warning("notice for the moderators of %s not posted (no mod channel): %s", action.server, action.reason)
            return ActionOutcome(False, "no mod channel configured (mod_channel_id)")
        try:
            bot = await self._bot(action.server)
        except _NoToken as exc:
            return ActionOutcome(False, str(exc), permission_problem=True)
        response = await bot.chat_postMessage(channel=channel, text=f":warning: {mrkdwn_escape(action.reason)}")
        return ActionOutcome(True, "moderators notified", platform_ref=f"{channel}/{response.get('ts')}")


def _warning_text(action: Action) -> str:
    """What the member reads: where, whether the message is gone, and the rules in the policy's words."""
    where = f" in <#{action.channel_id}>" if action.channel_id else ""
    removed = any(done.kind is ActionKind.DELETE and done.ok for done in action.taken)
    what = "was removed" if removed else "was flagged for the moderators"
    rules = mrkdwn_escape(action.member_notice.strip()) or "see the rules"
    return f"Your message{where} {what} because it breaks this community's rules: {rules}"


class _NoToken(LookupError):
    pass
