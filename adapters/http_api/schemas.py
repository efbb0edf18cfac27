"""What clients send: the request bodies as pydantic models, their validation, and the ``MessageEvent``.

The models are strict (a number where a string belongs is an error, not coerced) and forbid unknown
fields, so a plugin's typo ("author_role") is a 400 naming the field instead of silently lost data.
They double as the OpenAPI request schemas (``openapi.py``). Ids are limited to what the core's store
keeps (64 characters) and may hold no control or format characters; message texts are passed on
exactly as sent, hostile Unicode included: the core sanitises text, not the adapter.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema

from modbot.domain import ContextMessage, MessageEvent, ServerRef

from . import PLATFORM

__all__ = [
    "MAX_CONTEXT",
    "MAX_ID_CHARS",
    "BadRequest",
    "CommandIn",
    "ContextIn",
    "MessageIn",
    "ReviewIn",
    "check_id",
    "parse_body",
    "to_event",
]

#: The store's column limit for ids.
MAX_ID_CHARS = 64
MAX_CONTEXT = 50
MAX_ROLES = 250

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class BadRequest(ValueError):
    """A request the API answers with 400: what is wrong, and the dotted name of the field (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def check_id(value: str) -> str:
    """An id as the store keeps it: 1-64 characters, not blank, no control or format characters."""
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"must be at most {MAX_ID_CHARS} characters")
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value):
        raise ValueError("must not contain control or format characters")
    return value


def _raw_text(value: Any) -> str:
    # Not pydantic's str: that refuses lone surrogates ("\ud800", which JavaScript clients produce by
    # cutting strings), and a member could then keep every message of theirs from being moderated by
    # adding one. Texts go to the core as sent; the core makes them storable.
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _iso_timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time, e.g. 2026-01-31T18:04:05Z") from None
    # A time without an offset is taken as UTC: the core never stores naive datetimes.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(check_id)]
RawText = Annotated[str, PlainValidator(_raw_text), WithJsonSchema({"type": "string"})]
Text = Annotated[str, PlainValidator(lambda value: _check_text(_raw_text(value))), WithJsonSchema({"type": "string", "minLength": 1})]
Timestamp = Annotated[datetime, BeforeValidator(_iso_timestamp)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ContextIn(_Body):
    """A message that came before the one to judge (shown to the reasoner as context only)."""

    author_id: Id
    text: RawText


class MessageIn(_Body):
    """A member's message, or an edit of one (the same ``message_id`` with new text)."""

    message_id: Id
    channel_id: Id
    author_id: Id
    text: Text
    author_roles: list[Id] = Field(default_factory=list, max_length=MAX_ROLES)
    reply_to: Id | None = None
    #: When the member sent it; default: when the API received it. Without an offset: UTC.
    timestamp: Timestamp | None = None
    context: list[ContextIn] = Field(default_factory=list, max_length=MAX_CONTEXT)
    #: Marks the event as an edit. Optional: the core recognises new text under a known id anyway.
    edited: bool = False


class CommandIn(_Body):
    """A moderator command, as typed after ``/mod`` (a leading ``/mod`` is accepted and ignored)."""

    invoker_id: Id
    invoker_roles: list[Id] = Field(default_factory=list, max_length=MAX_ROLES)
    text: RawText


class ReviewIn(_Body):
    """A moderator's review of a case: the bot was right (uphold) or wrong (overturn)."""

    invoker_id: Id
    invoker_roles: list[Id] = Field(default_factory=list, max_length=MAX_ROLES)
    outcome: Literal["uphold", "overturn"]


class CaseActionIn(_Body):
    """A moderator's timeout or ban of a case's author (carried out by a callback like the bot's own)."""

    invoker_id: Id
    invoker_roles: list[Id] = Field(default_factory=list, max_length=MAX_ROLES)
    action: Literal["timeout", "ban"]
    #: For a timeout; None: the server's ``default_timeout_s``.
    duration_s: int | None = Field(default=None, ge=1, le=28 * 86_400)


Model = TypeVar("Model", bound=BaseModel)


def _field_name(location: tuple[int | str, ...]) -> str | None:
    return ".".join(str(part) for part in location) or None


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "model_type":
        return "must be a JSON object"
    return error["msg"][:1].lower() + error["msg"][1:]


def parse_body(model: type[Model], body: bytes) -> Model:
    """Decode and validate a request body; ``BadRequest`` names the first wrong field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    try:
        # The standard library's parser, not pydantic's: it keeps every string as sent, lone
        # surrogate escapes included, and the core decides what to do with them.
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_name(first["loc"])
        message = _message(first)  # type: ignore[arg-type]
        raise BadRequest(f"{field}: {message}" if field else message, field) from None


def to_event(server_id: str, body: MessageIn, *, received_at: datetime | None = None) -> MessageEvent:
    """The core's ``MessageEvent`` for a posted message of ``ServerRef("http", server_id)``."""
    return MessageEvent(
        server=ServerRef(PLATFORM, server_id),
        channel_id=body.channel_id,
        message_id=body.message_id,
        author_id=body.author_id,
        text=body.text,
        timestamp=body.timestamp or received_at or datetime.now(UTC),
        author_role_ids=tuple(body.author_roles),
        reply_to_id=body.reply_to,
        context=tuple(ContextMessage(item.author_id, item.text) for item in body.context),
        edited=body.edited,
    )
