"""The database schema (SQLAlchemy 2 declarative). Alembic migrations in ``migrations/`` create it.

Changing a table here means writing a new migration: ``tests/store/test_migrations.py`` fails when
the models and the migrated schema drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modbot.domain import CaseStatus, MessageStatus, utcnow

__all__ = [
    "ActionRow",
    "OutboxRow",
    "AuditRow",
    "Base",
    "CaseRow",
    "MemberNoteRow",
    "MessageRow",
    "NoticeRow",
    "PolicyVersionRow",
    "PrefilterVersionRow",
    "ReviewRow",
    "ServerPolicyRow",
    "ServerRow",
    "VerdictRow",
]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


#: Names and titles: unbounded on PostgreSQL (which enforces VARCHAR lengths; migration 0010 made them
#: TEXT there). SQLite never enforces a declared length, so its columns keep their old declaration.
_NAME = String(200).with_variant(Text(), "postgresql")

#: Who holds a claim (``modbot.store.claims.Holder``).
_HOLDER_CHARS = 128


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ServerRow(Base):
    """A server (guild/workspace) and its setting overrides (``None`` fields inherit)."""

    __tablename__ = "servers"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(_NAME, default="")
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class PolicyVersionRow(Base):
    """One version of a policy document. ``server_key`` None = shipped with the bot, visible to all."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("server_key", "version", name="uq_policy_versions_server_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str | None] = mapped_column(ForeignKey("servers.key", ondelete="CASCADE"), nullable=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(_NAME)
    text: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = _now_column()


class ServerPolicyRow(Base):
    """Which policy version a server uses; the newest row per server is the active one (history kept)."""

    __tablename__ = "server_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(ForeignKey("servers.key", ondelete="CASCADE"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    activated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    activated_at: Mapped[datetime] = _now_column()


class MessageRow(Base):
    """One revision of a message as accepted by the core; written as ``pending`` before judging."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("server_key", "message_id", "content_hash", name="uq_messages_revision"),
        Index("ix_messages_status", "status"),
        Index("ix_messages_author", "server_key", "author_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96))
    channel_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    #: The rest of the event (roles, attachments, reply-to, context, timestamps), for replay.
    event: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.PENDING.value)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
    #: The process judging this pending revision, and until when (``modbot.store.claims``; migration 0010).
    claimed_by: Mapped[str | None] = mapped_column(String(_HOLDER_CHARS), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class VerdictRow(Base):
    """Everything in a ``modbot.domain.Verdict``, plus where it came from."""

    __tablename__ = "verdicts"
    __table_args__ = (
        UniqueConstraint("message_row_id", "policy_version", "stage", name="uq_verdicts_message_policy_stage"),
        Index("ix_verdicts_server_created", "server_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_row_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    server_key: Mapped[str] = mapped_column(String(96))
    policy_version: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    reasoning: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(_NAME, default="")
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens_evaluated: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw_output: Mapped[str | None] = mapped_column(Text, nullable=True)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The verdict of an audit (the reasoner's second look at a prefilter-allowed message)...
    found_by_audit: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ... and the share of allowed messages audited when it was sampled (a label weighs 1 / share).
    audit_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: A shadow policy's verdict (never acted on, not one of the bot's own verdicts; migration 0009).
    candidate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _now_column()


class CaseRow(Base):
    """A verdict that needs or got a moderator's attention."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_server_status", "server_key", "status"),
        Index("uq_cases_server_number", "server_key", "number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96))
    #: The case's number in its server (1, 2, 3...), assigned in the transaction that opens it.
    number: Mapped[int] = mapped_column(Integer, server_default="0")
    verdict_id: Mapped[int] = mapped_column(ForeignKey("verdicts.id", ondelete="CASCADE"))
    message_row_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    #: Where the case was posted (platform message reference), for updating it after a review.
    posted_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class ActionRow(Base):
    """An action the bot tried, and its outcome (failures and refusals included)."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(Text, default="")
    permission_problem: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The platform's reference for what it did (e.g. the posted case message), when it gave one.
    platform_ref: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = _now_column()


class OutboxRow(Base):
    """An action planned and not yet settled: written with its verdict, removed once its outcome is final.

    Everything the action needs is here (not only a pointer), so it runs after a restart exactly as
    planned, with the same idempotency key.
    """

    __tablename__ = "action_outbox"
    __table_args__ = (Index("ix_action_outbox_due", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    thread_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mod_channel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    member_notice: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _now_column()
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _now_column()
    #: The process attempting it while ``next_attempt_at`` (its lease) is ahead; None: not claimed.
    claimed_by: Mapped[str | None] = mapped_column(String(_HOLDER_CHARS), nullable=True)


class ReviewRow(Base):
    """A moderator's review of a case: a ``ReviewOutcome`` (uphold or overturn), never an enforcement action."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    moderator_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _now_column()


class AuditRow(Base):
    """Every moderator command, allowed or refused."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96), index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _now_column()


class NoticeRow(Base):
    """One-time notices already sent (e.g. "the bot lacks Manage Messages"), so they are not repeated."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("server_key", "kind", name="uq_notices_server_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _now_column()


class MemberNoteRow(Base):
    """A moderator's note about a member (``/mod note``), per server."""

    __tablename__ = "member_notes"
    __table_args__ = (Index("ix_member_notes_server_member", "server_key", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_key: Mapped[str] = mapped_column(String(96))
    member_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()


class PrefilterVersionRow(Base):
    """One trained prefilter of a community (``modbot.training.learning``); the ``active`` one scores its servers."""

    __tablename__ = "prefilter_versions"
    __table_args__ = (UniqueConstraint("community", "version", name="uq_prefilter_versions_community_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _now_column()
