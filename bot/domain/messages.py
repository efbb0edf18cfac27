"""Messages as the core sees them: a server, a chat message event, its context and attachments."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

__all__ = ["Attachment", "ContextMessage", "MessageEvent", "MessageStatus", "ServerRef", "content_hash", "utcnow"]


def utcnow() -> datetime:
    """Timezone-aware current time; the core never stores naive datetimes."""
    return datetime.now(timezone.utc)


def content_hash(text: str) -> str:
    """Stable short hash of message text, used to recognise a message that was already judged."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ServerRef:
    """One community on one platform: a Discord guild or a Slack workspace."""

    platform: str
    id: str

    @property
    def key(self) -> str:
        """The single string that identifies this server in storage, e.g. ``discord:1234``."""
        return f"{self.platform}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> ServerRef:
        platform, sep, ident = key.partition(":")
        if not sep or not platform or not ident:
            raise ValueError(f"not a server key (expected 'platform:id'): {key!r}")
        return cls(platform, ident)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of a file attached to a message; the content itself is never downloaded."""

    filename: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ContextMessage:
    """A message that preceded the one under judgment; shown to the reasoner as context only."""

    author_id: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A new or edited chat message, converted from the platform's own payload by an adapter."""

    server: ServerRef
    channel_id: str
    message_id: str
    author_id: str
    text: str
    timestamp: datetime = field(default_factory=utcnow)
    thread_id: str | None = None
    author_role_ids: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    reply_to_id: str | None = None
    context: tuple[ContextMessage, ...] = ()
    edited: bool = False

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)




class MessageStatus(StrEnum):
    """Where a recorded message revision is in the pipeline."""

    PENDING = "pending"
    JUDGED = "judged"
    FAILED = "failed"
    SKIPPED = "skipped"
