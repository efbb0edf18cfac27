"""Pure converters between discord.py objects and the core's value objects.

Nothing here talks to the core; each function takes what discord.py built from a gateway payload and
returns a frozen domain object (or ``None`` for messages the bot ignores). Discord's permission names
stop here: the core only learns whether Discord calls the user a moderator.
"""

from __future__ import annotations

import logging

import discord

from bot.domain import Attachment, ContextMessage, MessageEvent, ServerRef
from bot.domain.commands import Invoker

__all__ = [
    "JUDGED_MESSAGE_TYPES",
    "MODERATOR_FLAGS",
    "PLATFORM",
    "fetch_context",
    "invoker_from_interaction",
    "is_platform_moderator",
    "message_to_event",
    "raw_edit_to_event",
    "server_ref",
]

log = logging.getLogger(__name__)

PLATFORM = "discord"

#: Message types written by members. Joins, pins, boosts, thread-created notices... are system
#: messages with no member text and are never judged.
JUDGED_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})

#: Discord permission flags that make someone a moderator (any one of them suffices).
MODERATOR_FLAGS = ("manage_messages", "moderate_members", "administrator")


def server_ref(guild_id: int | str) -> ServerRef:
    """The core's reference of a guild."""
    return ServerRef(PLATFORM, str(guild_id))


def _role_ids(member: object, guild: discord.Guild | None) -> tuple[str, ...]:
    if not isinstance(member, discord.Member) and guild is not None:
        # MESSAGE_UPDATE may come without the ``member`` object; the guild cache may know the member.
        member = guild.get_member(getattr(member, "id", 0)) or member
    if not isinstance(member, discord.Member):
        return ()
    # ``_roles`` holds the role ids exactly as Discord sent them; ``member.roles`` would silently drop
    # roles that are missing from the guild cache (and exemptions must not depend on the cache).
    guild_id = member.guild.id
    return tuple(str(role_id) for role_id in member._roles if role_id != guild_id)


def _channel_ids(channel: discord.abc.Snowflake) -> tuple[str, str | None]:
    """(channel_id, thread_id): for a thread or forum post, the parent channel and the thread."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), str(channel.id)
    return str(channel.id), None


def message_to_event(
    message: discord.Message, context: tuple[ContextMessage, ...] = (), *, edited: bool = False
) -> MessageEvent | None:
    """Convert a guild message to a ``MessageEvent``; ``None`` for messages the bot never judges.

    Skipped: direct messages, messages by bots (this one included) and webhooks, and system
    messages. Attachments become metadata only; their content is never downloaded.
    """
    if message.guild is None or message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in JUDGED_MESSAGE_TYPES:
        return None
    channel_id, thread_id = _channel_ids(message.channel)
    reference = message.reference
    reply_to = str(reference.message_id) if reference is not None and reference.message_id else None
    attachments = tuple(
        Attachment(filename=a.filename, content_type=a.content_type, size=a.size, url=a.url) for a in message.attachments
    )
    return MessageEvent(
        server=server_ref(message.guild.id),
        channel_id=channel_id,
        message_id=str(message.id),
        author_id=str(message.author.id),
        text=message.content or "",
        timestamp=(message.edited_at if edited and message.edited_at else message.created_at),
        thread_id=thread_id,
        author_role_ids=_role_ids(message.author, message.guild),
        attachments=attachments,
        reply_to_id=reply_to,
        context=tuple(context),
        edited=edited,
    )


def raw_edit_to_event(
    payload: discord.RawMessageUpdateEvent, context: tuple[ContextMessage, ...] = ()
) -> MessageEvent | None:
    """Convert an edit (``on_raw_message_edit``, cached or not) to an edited ``MessageEvent``.

    discord.py builds ``payload.message`` from the gateway's ``payload.data`` even when the message
    was never cached. Updates that leave the text as it was (link previews, pins, embeds being
    resolved) return ``None``; for uncached messages the core's content-hash dedupe does the same.
    """
    message = payload.message
    before = payload.cached_message
    if before is not None and before.content == message.content:
        return None
    if "content" not in payload.data:
        return None
    return message_to_event(message, context, edited=True)


async def fetch_context(message: discord.Message, limit: int) -> tuple[ContextMessage, ...]:
    """Up to ``limit`` messages that preceded ``message`` in its channel, oldest first.

    Context is a nicety: when it cannot be read (no Read Message History permission, Discord
    unavailable) the message is judged without it.
    """
    if limit <= 0:
        return ()
    found: list[ContextMessage] = []
    try:
        async for earlier in message.channel.history(limit=limit, before=message):
            if earlier.content:
                found.append(ContextMessage(author_id=str(earlier.author.id), text=earlier.content))
    except (discord.HTTPException, discord.ClientException) as exc:
        log.info("no context for message %s: %s", message.id, exc)
        return ()
    found.reverse()
    return tuple(found)


def is_platform_moderator(permissions: discord.Permissions) -> bool:
    """Whether Discord calls a member with these permissions a moderator (Manage Messages, Moderate
    Members or Administrator)."""
    return any(getattr(permissions, name) for name in MODERATOR_FLAGS)


def invoker_from_interaction(interaction: discord.Interaction) -> Invoker:
    """Who ran a slash command or clicked a button, with the permissions Discord resolved for them.

    ``interaction.permissions`` are the member's permissions in the channel, overwrites included,
    as computed by Discord itself; the core decides (this, or a configured moderator role) and audits
    every command.
    """
    if interaction.guild_id is None:
        raise ValueError("moderator commands only work inside a server")
    user = interaction.user
    return Invoker(
        server=server_ref(interaction.guild_id),
        user_id=str(user.id),
        role_ids=_role_ids(user, interaction.guild),
        platform_moderator=is_platform_moderator(interaction.permissions),
        display_name=getattr(user, "display_name", "") or user.name,
    )
