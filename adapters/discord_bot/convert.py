"""Pure converters between discord.py objects and the core's value objects.

Nothing here talks to the core; each function takes what discord.py built from a gateway payload and
returns a frozen domain object (or ``None`` for messages the bot ignores). Discord's permission names
stop here: the core only learns whether Discord calls the user a moderator.
"""

from __future__ import annotations

import logging

import discord

from modbot.domain import Attachment, ContextMessage, MessageEvent, ServerRef
from modbot.domain.commands import Invoker

__all__ = [
    "FORWARD_MARK",
    "JUDGED_MESSAGE_TYPES",
    "MODERATOR_FLAGS",
    "PLATFORM",
    "fetch_context",
    "invoker_from_interaction",
    "is_platform_moderator",
    "message_to_event",
    "raw_edit_to_event",
    "ThreadParents",
    "server_ref",
]

log = logging.getLogger(__name__)

PLATFORM = "discord"

#: Message types written by members. Joins, pins, boosts, thread-created notices... are system
#: messages with no member text and are never judged.
JUDGED_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})

#: Discord permission flags that make someone a moderator (any one of them suffices).
MODERATOR_FLAGS = ("manage_messages", "moderate_members", "administrator")


#: The line that starts forwarded content in a judged text. A forward (``message_reference.type``
#: 1) arrives with empty ``content`` of its own and the forwarded message in ``message_snapshots``;
#: its text is judged like the author's own words (the author chose to post it), after the author's
#: own text and this mark, so moderators can tell the two apart. The forwarded attachments' metadata
#: is added to the event's attachments. Embeds of a forward (mostly link previews written by other
#: sites) are not judged, as for the author's own messages.
FORWARD_MARK = "[forwarded message]"


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


class ThreadParents:
    """Where a message is when discord.py did not cache its channel: a thread's parent, looked up once.

    A message in an uncached thread (an old archived one woken up, a thread the bot was never told
    about) arrives with only ``channel_id`` (the thread's id) and a ``PartialMessageable``: without
    this, the thread id would pass for the channel and exemptions of the parent would not apply.
    The guild's cache is asked first, then Discord (``GET /channels/{id}``); answers are remembered.
    """

    def __init__(self, limit: int = 4096):
        self._known: dict[int, tuple[str, str | None]] = {}
        self._limit = limit

    async def resolve(self, message: discord.Message) -> tuple[str, str | None] | None:
        """(channel_id, thread_id) of ``message``; None when its channel object already says."""
        channel = message.channel
        if not isinstance(channel, discord.PartialMessageable) or message.guild is None:
            return None
        cached = message.guild.get_channel_or_thread(channel.id)
        if cached is not None:
            return _channel_ids(cached)
        if channel.id in self._known:
            return self._known[channel.id]
        try:
            fetched = await message.guild.fetch_channel(channel.id)
        except discord.HTTPException as exc:
            log.warning("could not look up channel %s of guild %s: %s", channel.id, message.guild.id, exc)
            return None
        where = _channel_ids(fetched)
        if len(self._known) >= self._limit:
            self._known.pop(next(iter(self._known)))
        self._known[channel.id] = where
        return where


def _attachment(attachment: discord.Attachment) -> Attachment:
    return Attachment(
        filename=attachment.filename, content_type=attachment.content_type, size=attachment.size, url=attachment.url
    )


def message_to_event(
    message: discord.Message,
    context: tuple[ContextMessage, ...] = (),
    *,
    edited: bool = False,
    where: tuple[str, str | None] | None = None,
) -> MessageEvent | None:
    """Convert a guild message to a ``MessageEvent``; ``None`` for messages the bot never judges.

    Skipped: direct messages, messages by bots (this one included) and webhooks, and system
    messages. Attachments become metadata only; their content is never downloaded. A forwarded
    message's text and attachments are judged as the author's (see :data:`FORWARD_MARK`). ``where`` is
    (channel_id, thread_id) when the caller resolved an uncached channel (``ThreadParents``).
    """
    if message.guild is None or message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in JUDGED_MESSAGE_TYPES:
        return None
    channel_id, thread_id = where or _channel_ids(message.channel)
    reference = message.reference
    forward = reference is not None and reference.type is discord.MessageReferenceType.forward
    # A forward's reference names the forwarded message (often in another channel), not a reply.
    reply_to = str(reference.message_id) if reference is not None and reference.message_id and not forward else None
    texts = [message.content] if message.content else []
    attachments = [_attachment(a) for a in message.attachments]
    for snapshot in getattr(message, "message_snapshots", None) or ():
        texts.append(f"{FORWARD_MARK}\n{snapshot.content}" if snapshot.content else FORWARD_MARK)
        attachments += [_attachment(a) for a in snapshot.attachments]
    return MessageEvent(
        server=server_ref(message.guild.id),
        channel_id=channel_id,
        message_id=str(message.id),
        author_id=str(message.author.id),
        text="\n".join(texts),
        timestamp=(message.edited_at if edited and message.edited_at else message.created_at),
        thread_id=thread_id,
        author_role_ids=_role_ids(message.author, message.guild),
        attachments=tuple(attachments),
        reply_to_id=reply_to,
        context=tuple(context),
        edited=edited,
    )


def raw_edit_to_event(
    payload: discord.RawMessageUpdateEvent,
    context: tuple[ContextMessage, ...] = (),
    *,
    where: tuple[str, str | None] | None = None,
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
    return message_to_event(message, context, edited=True, where=where)


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
