"""The Discord action executor: ``modbot.ports.ActionSink`` carried out through discord.py's REST client.

Every action returns an ``ActionOutcome``; nothing raises. Refusals that repeat until a human fixes
something (403: a missing permission, or the member's top role is above the bot's) are marked
``permission_problem`` so the core can tell the moderators once. Rate limits (429) are handled by
discord.py itself; 5xx answers and network errors are retried here with ``stamina``'s backoff.

The ``Action`` carries everything (the mod channel, the member's notice, the duration): the sink
never asks the core anything, and reports what it posted as ``ActionOutcome.platform_ref``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import discord
import stamina

from modbot.domain import Action, ActionKind, ActionOutcome, utcnow

from .render import case_embed, case_view

__all__ = ["MAX_TIMEOUT_S", "DiscordActionSink", "RetryPolicy"]

log = logging.getLogger(__name__)

#: Discord refuses timeouts longer than 28 days.
MAX_TIMEOUT_S = 28 * 86400
#: Discord's cap on the audit-log reason header.
AUDIT_REASON_LIMIT = 512

# JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
CANNOT_DM_USER = 50007

_NO_MENTIONS = discord.AllowedMentions.none()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures (5xx, connection errors, timeouts) are retried: ``stamina``'s
    exponential backoff with jitter, at most ``attempts`` tries in all.

    discord.py already retries 500/502/504/524 a few times inside one request and waits out 429s;
    this is the outer loop for what it gives up on (503, dropped connections, DNS hiccups).
    """

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("a retry policy needs at least one attempt and non-negative delays")


_TRANSIENT = (discord.DiscordServerError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _describe(exc: discord.HTTPException) -> str:
    code = f" (code {exc.code})" if exc.code else ""
    return f"{exc.status} {exc.text or exc.response.reason}{code}".strip()


def _snowflake(value: str | None, what: str) -> int:
    if value is None:
        raise ValueError(f"the action has no {what}")
    try:
        ident = int(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a Discord id") from None
    if ident <= 0:
        raise ValueError(f"{what} {value!r} is not a Discord id")
    return ident


def _audit_reason(reason: str) -> str | None:
    reason = " ".join(reason.split())
    return reason[:AUDIT_REASON_LIMIT] or None


class DiscordActionSink:
    """Carries out the core's actions on Discord."""

    def __init__(
        self,
        client: discord.Client,
        *,
        retry: RetryPolicy = RetryPolicy(),
        notice_ttl_s: float | None = 60.0,
        connect_timeout_s: float = 120.0,
    ):
        self.client = client
        self.retry = retry
        #: The channel notice that replaces a warning DM deletes itself after this long (None: keep it).
        self.notice_ttl_s = notice_ttl_s
        #: How long an action waits for the client to log in (messages left pending by an earlier run
        #: are judged as soon as the core starts, possibly before Discord answered the login).
        self.connect_timeout_s = connect_timeout_s
        self._connected = asyncio.Event()
        self._handlers: dict[ActionKind, Callable[[Action], Awaitable[ActionOutcome]]] = {
            ActionKind.DELETE: self._delete,
            ActionKind.TIMEOUT: self._timeout,
            ActionKind.WARN: self._warn,
            ActionKind.BAN: self._ban,
            ActionKind.POST_CASE: self._post_case,
            ActionKind.NOTIFY_MODS: self._notify_mods,
            ActionKind.UPDATE_CASE: self._update_case,
        }

    def mark_connected(self) -> None:
        """Called by the adapter once the client is logged in: actions may go out."""
        self._connected.set()

    async def execute(self, action: Action) -> ActionOutcome:
        """Carry out one action; every failure becomes an outcome (never an exception)."""
        if action.server.platform != "discord":
            return ActionOutcome(False, f"not a Discord server: {action.server}")
        try:
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout_s)
        except TimeoutError:
            # The core's outbox tries again later: the gateway may be reconnecting.
            return ActionOutcome(
                False, f"not connected to Discord (waited {self.connect_timeout_s:g}s)", retry_after_s=0.0
            )
        handler = self._handlers.get(action.kind)
        if handler is None:
            return ActionOutcome(False, f"unsupported action {action.kind}")
        try:
            return await self._with_retries(handler, action)
        except ValueError as exc:
            return ActionOutcome(False, str(exc))
        except discord.Forbidden as exc:
            return ActionOutcome(False, f"Discord refused: {_describe(exc)}", permission_problem=True)
        except discord.NotFound as exc:
            if action.kind is ActionKind.DELETE and exc.code in (UNKNOWN_MESSAGE, UNKNOWN_CHANNEL):
                # Idempotent delete: someone (a moderator, the author, an earlier try) was faster.
                return ActionOutcome(True, "already deleted")
            return ActionOutcome(False, f"not found: {_describe(exc)}")
        except discord.HTTPException as exc:
            transient = exc.status == 429 or exc.status >= 500
            return ActionOutcome(False, f"Discord error: {_describe(exc)}", retry_after_s=0.0 if transient else None)
        except _TRANSIENT as exc:
            return ActionOutcome(
                False,
                f"Discord unreachable after {self.retry.attempts} attempts: {type(exc).__name__}: {exc}",
                retry_after_s=0.0,
            )

    async def _with_retries(
        self, handler: Callable[[Action], Awaitable[ActionOutcome]], action: Action
    ) -> ActionOutcome:
        retry = self.retry
        attempts = stamina.retry_context(
            on=_TRANSIENT,
            attempts=retry.attempts,
            timeout=None,  # the attempts bound it; a slow Discord must not cut a retry short
            wait_initial=retry.base_delay_s,
            wait_max=retry.max_delay_s,
            wait_jitter=retry.base_delay_s,
        )
        async for attempt in attempts:
            with attempt:
                return await handler(action)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- helpers -------------------------------------------------------------------------------

    def _where(self, action: Action) -> int:
        """The channel a message lives in: its thread when it was posted in a thread or forum post."""
        return _snowflake(action.thread_id or action.channel_id, "channel id")

    def _mod_channel(self, action: Action) -> discord.PartialMessageable | None:
        if not action.mod_channel_id:
            return None
        channel_id = _snowflake(action.mod_channel_id, "mod channel id")
        return self.client.get_partial_messageable(channel_id, guild_id=_snowflake(action.server.id, "guild id"))

    # -- actions -------------------------------------------------------------------------------

    async def _delete(self, action: Action) -> ActionOutcome:
        channel_id = self._where(action)
        message_id = _snowflake(action.message_id, "message id")
        await self.client.http.delete_message(channel_id, message_id, reason=_audit_reason(action.reason))
        return ActionOutcome(True, "deleted", platform_ref=f"{channel_id}/{message_id}")

    async def _timeout(self, action: Action) -> ActionOutcome:
        guild_id = _snowflake(action.server.id, "guild id")
        user_id = _snowflake(action.user_id, "user id")
        seconds = action.duration_s
        if seconds is None:
            return ActionOutcome(False, "the timeout action names no duration")
        if seconds <= 0:
            return ActionOutcome(False, "timeout of 0 seconds: nothing to do")
        seconds = min(seconds, MAX_TIMEOUT_S)
        until = utcnow() + timedelta(seconds=seconds)
        await self.client.http.edit_member(
            guild_id, user_id, reason=_audit_reason(action.reason), communication_disabled_until=until.isoformat()
        )
        return ActionOutcome(True, f"timed out for {seconds}s (until {until.isoformat(timespec='seconds')})")

    async def _ban(self, action: Action) -> ActionOutcome:
        guild_id = _snowflake(action.server.id, "guild id")
        user_id = _snowflake(action.user_id, "user id")
        await self.client.http.ban(user_id, guild_id, delete_message_seconds=0, reason=_audit_reason(action.reason))
        return ActionOutcome(True, "banned")

    def _warning_text(self, action: Action) -> str:
        guild = self.client.get_guild(int(action.server.id))
        where = f"**{guild.name}**" if guild is not None else "the server"
        # Members see the rules they broke in the policy's own words (``member_notice``, written by the
        # core); the model's rationale is for moderators.
        reason = action.member_notice.strip() or "It broke the server's rules."
        return (
            f"A message you posted in {where} was removed by the moderation bot.\n{reason}\n"
            "If you think this was a mistake, reply to a moderator of the server."
        )[:2000]

    async def _warn(self, action: Action) -> ActionOutcome:
        guild_id = _snowflake(action.server.id, "guild id")
        user_id = _snowflake(action.user_id, "user id")
        text = self._warning_text(action)
        try:
            dm = await self.client.create_dm(discord.Object(user_id))
            sent = await dm.send(text, allowed_mentions=_NO_MENTIONS)
            return ActionOutcome(True, "warned by DM", platform_ref=f"{sent.channel.id}/{sent.id}")
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM_USER:
                raise
        # DMs closed: a short notice where the message was, mentioning only the author.
        channel = self.client.get_partial_messageable(self._where(action), guild_id=guild_id)
        notice = await channel.send(
            f"<@{user_id}>, a message of yours was removed for breaking the server's rules.",
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(user_id)], everyone=False, roles=False),
        )
        if self.notice_ttl_s is not None:
            # Not ephemeral (only interaction answers can be), so it cleans itself up instead.
            await notice.delete(delay=self.notice_ttl_s)
        return ActionOutcome(True, "DMs closed: notice posted in the channel", platform_ref=f"{channel.id}/{notice.id}")

    async def _post_case(self, action: Action) -> ActionOutcome:
        case = action.case
        if case is None:
            return ActionOutcome(False, "no case to post")
        if case.posted_ref:
            return ActionOutcome(True, "already posted", platform_ref=case.posted_ref)
        channel = self._mod_channel(action)
        if channel is None:
            return ActionOutcome(False, "no mod-log channel configured (mod_channel_id) for this server")
        # The nonce makes Discord drop a duplicate when a retry follows a post whose answer was lost.
        sent = await channel.send(
            embed=case_embed(case), view=case_view(case.id), nonce=f"modbot-case-{case.id}"[:25], allowed_mentions=_NO_MENTIONS
        )
        # The core stores this reference as the case's posted ref.
        return ActionOutcome(True, "case posted", platform_ref=f"{channel.id}/{sent.id}")

    async def _update_case(self, action: Action) -> ActionOutcome:
        """Redraw a posted case after a review made elsewhere (the web console), so chat shows its status."""
        case = action.case
        if case is None or not case.posted_ref:
            return ActionOutcome(False, "no posted case to update")
        channel_part, _, message_part = case.posted_ref.partition("/")
        channel = self.client.get_partial_messageable(
            _snowflake(channel_part, "case channel id"), guild_id=_snowflake(action.server.id, "guild id")
        )
        note = f"{case.status.value} ({action.reason})" if action.reason else case.status.value
        await channel.get_partial_message(_snowflake(message_part, "case message id")).edit(
            embed=case_embed(case, note=note), view=case_view(case.id)
        )
        return ActionOutcome(True, "case post updated", platform_ref=case.posted_ref)

    async def _notify_mods(self, action: Action) -> ActionOutcome:
        channel = self._mod_channel(action)
        if channel is None:
            return ActionOutcome(False, "no mod-log channel configured (mod_channel_id) for this server")
        sent = await channel.send(f"⚠️ {action.reason}"[:2000], allowed_mentions=_NO_MENTIONS)
        return ActionOutcome(True, "moderators notified", platform_ref=f"{channel.id}/{sent.id}")
