"""What the API answers and what it delivers: response and callback payload models, and the JSON of a ``Reply``.

The models give the OpenAPI schemas; the tests check that what the handlers send matches them. A
verdict is always ``Verdict.to_public_dict()`` (the shape ``modbot classify`` prints, never the raw
reasoning); a ``Reply`` is converted field by field (``reply_json``), so a field the core adds to it
reaches clients without a change here.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field

from modbot.domain import Verdict
from modbot.domain.commands import Reply

__all__ = [
    "ACTION_KINDS",
    "CallbackPayload",
    "CaseOut",
    "ErrorOut",
    "IntakeOut",
    "PendingOut",
    "ReplyOut",
    "StatusOut",
    "VerdictOut",
    "reply_json",
    "to_json",
]

#: The ``action`` values of a callback: the five enforcement kinds, and ``notify_mods`` (a notice for
#: the moderators, e.g. that actions keep failing; its text is in ``reason``).
ACTION_KINDS = ("delete", "warn", "timeout", "ban", "post_case", "notify_mods")


class ErrorOut(BaseModel):
    """Every 4xx/5xx answer: what is wrong and, for a bad request, the dotted name of the field."""

    error: str
    field: str | None = None


class IntakeOut(BaseModel):
    """A posted message was accepted (202): queued for judging, or the same content again."""

    status: Literal["queued", "duplicate"]
    id: int = Field(description="The core's row id of this revision of the message.")


class PendingOut(BaseModel):
    """The message's newest revision is not judged yet (202)."""

    status: Literal["pending"] = "pending"


class StatusOut(BaseModel):
    """The newest revision was not judged: exempt (skipped) or judging failed."""

    status: Literal["skipped", "failed", "judged"]
    detail: str = ""


class TokensOut(BaseModel):
    prompt: int
    prompt_evaluated: int
    completion: int


class VerdictOut(BaseModel):
    """A verdict, exactly as ``modbot classify`` prints it."""

    decision: Literal["allow", "flag", "remove", "remove_and_timeout", "escalate"]
    categories: list[str]
    rule_ids: list[str]
    stage: str
    rationale: str
    policy_version: str
    confidence: float
    model: str
    latency_ms: float
    tokens: TokensOut
    truncated: bool
    error: str | None
    score: float | None


class ServerOut(BaseModel):
    platform: str
    id: str


class AttachmentOut(BaseModel):
    filename: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None


class ContextOut(BaseModel):
    author_id: str
    text: str


class EventOut(BaseModel):
    """The message a case is about, as the core recorded it."""

    server: ServerOut
    channel_id: str
    message_id: str
    author_id: str
    text: str
    timestamp: datetime
    thread_id: str | None = None
    author_role_ids: list[str] = []
    attachments: list[AttachmentOut] = []
    reply_to_id: str | None = None
    context: list[ContextOut] = []
    edited: bool = False


class CaseOut(BaseModel):
    id: int
    event: EventOut
    verdict: VerdictOut
    status: Literal["open", "upheld", "overturned"]
    created_at: datetime | None = None
    posted_ref: str | None = None


class ReplyOut(BaseModel):
    """The core's answer to a moderator command (``ok`` false: not done; ``title`` and ``text`` say why)."""

    ok: bool
    title: str
    text: str = ""
    fields: list[tuple[str, str]] = []
    cases: list[CaseOut] = []
    case: CaseOut | None = None
    page: int = 1
    pages: int = 1
    verdict: VerdictOut | None = None
    ephemeral: bool = True


class CallbackPayload(BaseModel):
    """One action, POSTed to the server's callback URL (signed; see ``signing.py``).

    ``decision``, ``rule_ids`` and ``rationale`` come from the case's verdict when there is a case;
    otherwise they are null, [] and the action's reason. ``author_id`` is the member acted on.
    """

    action: Literal["delete", "warn", "timeout", "ban", "post_case", "notify_mods"]
    server_id: str
    channel_id: str | None
    message_id: str | None
    author_id: str | None
    case_id: int | None
    decision: str | None
    rule_ids: list[str]
    rationale: str | None
    duration_s: int | None
    idempotency_key: str = Field(description="The same on every retry of this action: dedupe by it.")
    reason: str = Field(description="Why, for the platform's audit log and the moderators.")
    member_notice: str | None = Field(None, description="warn only: the rules broken, in the policy's words.")


def to_json(value: Any) -> Any:
    """A domain value as JSON data: dataclasses field by field, enums by value, times in ISO-8601."""
    if isinstance(value, Verdict):
        return value.to_public_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def reply_json(reply: Reply) -> dict[str, Any]:
    """A ``Reply`` as the commands and reviews endpoints answer it."""
    return to_json(reply)
