"""Pure converters between Slack's payloads/markup and the core's value objects.

Nothing here talks to Slack or keeps state: a raw event dict goes in, a ``MessageEvent`` (or ``None``
for things that are not member messages) comes out. The raw dict stops here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modbot.domain import Attachment, MessageEvent, ServerRef

__all__ = [
    "PLATFORM",
    "mentions_to_ids",
    "message_to_event",
    "mrkdwn_escape",
    "server_ref",
    "slack_to_plain",
    "ts_to_datetime",
]

PLATFORM = "slack"

#: Message subtypes that are a member writing something. Everything else (joins, topic changes,
#: deletions, bot posts, huddles...) is not moderated.
_MEMBER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
_SKIPPED_CHANNEL_TYPES = frozenset({"im", "mpim", "app_home"})
_SLACKBOT = "USLACKBOT"

# Slack markup: <@U123>, <#C123|general>, <!here>, <!subteam^S1|@mods>, <https://x|label>, <mailto:a@b>.
_MARKUP = re.compile(r"<([^<>\n]*)>")
# The mentions that name a member, channel or user group: <@U1|name>, <#C1|name>, <!subteam^S1|name>.
_ID_MENTION = re.compile(r"<(?:@|#|!subteam\^)([A-Za-z0-9]+)(?:\|[^<>\n]*)?>")


def server_ref(team_id: str) -> ServerRef:
    """The core's reference to a Slack workspace."""
    return ServerRef(PLATFORM, team_id)


def ts_to_datetime(ts: str | None) -> datetime | None:
    """Slack's message timestamp (``"1700000000.000100"``, also the message id) as an aware datetime."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _render_markup(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # user mention
        return "@" + (label or target[1:])
    if target.startswith("#"):  # channel mention
        return "#" + (label or target[1:])
    if target.startswith("!"):  # special mentions, user groups, dates
        name = target[1:]
        if name.startswith("subteam^"):
            return label or "@" + name.split("^", 1)[1]
        if name.startswith("date^"):
            return label or name
        return label or "@" + name
    # A link. The label can hide where it goes, and where it goes is what moderation needs to see.
    bare = re.sub(r"^(?:https?://|mailto:)", "", target).rstrip("/")
    if not label or label.rstrip("/") in (target, bare):
        return label or target
    return f"{label} ({target})"


def slack_to_plain(text: str) -> str:
    """Slack-formatted text as a person reads it: markup resolved, ``&amp; &lt; &gt;`` unescaped.

    Slack escapes the three characters a member types (``&``, ``<``, ``>``), so every raw ``<...>``
    is Slack's own markup; that makes the conversion exact for typed text (policy uploads rely on it).
    """
    if not isinstance(text, str):
        return ""
    plain = _MARKUP.sub(_render_markup, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mentions_to_ids(text: str) -> str:
    """Member, channel and user-group mentions as their plain ids (``<@U1|ann>`` → ``U1``), the form
    the core's command parser takes; everything else is left as it is."""
    return _ID_MENTION.sub(lambda match: match.group(1), text)


def mrkdwn_escape(text: str) -> str:
    """Text from a member made inert for Block Kit ``mrkdwn`` (no mentions, links or @channel pings)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attachments(files: Any) -> tuple[Attachment, ...]:
    if not isinstance(files, list):
        return ()
    found = []
    for item in files:
        if not isinstance(item, Mapping):
            continue
        name = item.get("name") or item.get("title") or item.get("id") or "file"
        size = item.get("size")
        found.append(
            Attachment(
                filename=str(name),
                content_type=item.get("mimetype") if isinstance(item.get("mimetype"), str) else None,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                url=item.get("url_private") if isinstance(item.get("url_private"), str) else None,
            )
        )
    return tuple(found)


def _is_from_a_bot(message: Mapping[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message" or message.get("user") == _SLACKBOT


def _file_names(message: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(a.filename for a in _attachments(message.get("files")))


def message_to_event(event_payload: Mapping[str, Any], team_id: str) -> MessageEvent | None:
    """Convert a Slack ``message`` event (the ``event`` object of an Events API envelope).

    Returns ``None`` for anything that is not a member's message in a channel or private channel:
    bot posts, system subtypes, deletions, direct messages, link unfurls (a ``message_changed``
    whose text did not change), and malformed payloads. Edits (``message_changed``) come back with
    ``edited=True`` and the id of the original message; thread replies carry ``thread_id``.
    """
    if not isinstance(event_payload, Mapping) or event_payload.get("type") != "message" or not team_id:
        return None
    if event_payload.get("channel_type") in _SKIPPED_CHANNEL_TYPES:
        return None
    subtype = event_payload.get("subtype")
    edited = subtype == "message_changed"
    if edited:
        message = event_payload.get("message")
        if not isinstance(message, Mapping) or message.get("subtype") not in _MEMBER_SUBTYPES:
            return None
        previous = event_payload.get("previous_message")
        if isinstance(previous, Mapping) and previous.get("text") == message.get("text") and _file_names(
            previous
        ) == _file_names(message):
            return None  # an unfurl or a reaction-count refresh, not an edit
    elif subtype in _MEMBER_SUBTYPES:
        message = event_payload
    else:
        return None
    if _is_from_a_bot(message):
        return None
    channel = event_payload.get("channel")
    user = message.get("user")
    ts = message.get("ts")
    timestamp = ts_to_datetime(ts)
    if not isinstance(channel, str) or not channel or not isinstance(user, str) or not user or timestamp is None:
        return None
    raw_text = message.get("text")
    text = slack_to_plain(raw_text) if isinstance(raw_text, str) else ""
    attachments = _attachments(message.get("files"))
    if not text.strip() and not attachments:
        return None
    thread_ts = message.get("thread_ts")
    in_thread = isinstance(thread_ts, str) and thread_ts != ts
    return MessageEvent(
        server=server_ref(team_id),
        channel_id=channel,
        message_id=str(ts),
        author_id=user,
        text=text,
        timestamp=timestamp,
        thread_id=thread_ts if in_thread else None,
        attachments=attachments,
        reply_to_id=thread_ts if in_thread else None,
        edited=edited,
    )
