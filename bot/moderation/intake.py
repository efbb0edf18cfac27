"""What the pipeline accepts: text made storable, ids checked, and the retry budget of a bad row.

A row that cannot be read back or processed would otherwise be retried by every sweep forever (and,
with a small queue, hold good rows back): intake refuses what cannot be stored faithfully, and a row
that fails ``MAX_ATTEMPTS`` times is marked failed with its reason.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from modbot.domain import MessageEvent

__all__ = ["MAX_ATTEMPTS", "MAX_ID_CHARS", "TRUNCATION_MARK", "check_ids", "sanitize_event", "sanitize_text"]

TRUNCATION_MARK = "\n[… message cut by modbot: too long to store in full]"

#: Platform ids (server, channel, thread, message, author) fit the store's 64-character columns.
MAX_ID_CHARS = 64

#: How often a pending row may fail to load or process before it is marked failed for good.
MAX_ATTEMPTS = 3


def sanitize_text(text: str, max_chars: int) -> str:
    """Make arbitrary platform text storable: lone surrogates → U+FFFD, NUL removed, length capped."""
    if not isinstance(text, str):
        raise TypeError(f"message text must be str, not {type(text).__name__}")
    # A UTF-16 round trip joins valid surrogate pairs and replaces lone ones.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\x00", "")
    if len(text) > max_chars:
        text = text[:max_chars] + TRUNCATION_MARK
    return text


def sanitize_event(event: MessageEvent, max_chars: int) -> MessageEvent:
    """The event with its text and its context's texts made storable (``sanitize_text``)."""
    text = sanitize_text(event.text, max_chars)
    context = tuple(replace(c, text=sanitize_text(c.text, max_chars)) for c in event.context)
    if text == event.text and context == event.context:
        return event
    return replace(event, text=text, context=context)


def _check_id(what: str, value: object, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise TypeError(f"the {what} must be str, not {type(value).__name__}")
    if not value:
        if required:
            raise ValueError(f"the {what} is empty")
        return
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"the {what} is longer than {MAX_ID_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in value):
        raise ValueError(f"the {what} contains control characters")


def check_ids(event: MessageEvent) -> None:
    """Refuse an event whose ids could not be stored and read back as they are (ValueError, TypeError)."""
    _check_id("server platform", event.server.platform)
    _check_id("server id", event.server.id)
    if ":" in event.server.platform or len(event.server.platform) > 31:
        raise ValueError("the server platform must be at most 31 characters, without ':'")
    _check_id("channel id", event.channel_id)
    _check_id("thread id", event.thread_id, required=False)
    _check_id("message id", event.message_id)
    _check_id("author id", event.author_id)
    _check_id("reply-to id", event.reply_to_id, required=False)
    for context in event.context:
        _check_id("context author id", context.author_id, required=False)
    for role in event.author_role_ids:
        _check_id("role id", role)
