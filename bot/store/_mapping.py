"""Rows to domain values and back. Nothing here touches a session; no row leaves ``modbot.store``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from modbot.domain import (
    ActionKind,
    Attachment,
    Case,
    CaseStatus,
    ContextMessage,
    Decision,
    MessageEvent,
    ServerRef,
    Stage,
    TokenCounts,
    Verdict,
)
from modbot.domain.policy import Policy, parse_policy
from modbot.domain.records import ActionRecord, AuditEntry, PolicyRecord, VerdictToSave
from modbot.store.schema import ActionRow, AuditRow, CaseRow, MessageRow, PolicyVersionRow, VerdictRow

__all__ = [
    "action_record",
    "audit_entry",
    "aware",
    "case_from_rows",
    "event_extra",
    "event_from_row",
    "policy_from_row",
    "policy_record",
    "verdict_from_row",
    "verdict_values",
]


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes even for timezone-aware columns; they were written as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def event_extra(event: MessageEvent) -> dict[str, Any]:
    """The parts of an event without a column of their own, kept as JSON for replay."""
    return {
        "timestamp": event.timestamp.isoformat(),
        "author_role_ids": list(event.author_role_ids),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url}
            for a in event.attachments
        ],
        "reply_to_id": event.reply_to_id,
        "context": [{"author_id": c.author_id, "text": c.text} for c in event.context],
    }


def event_from_row(row: MessageRow) -> MessageEvent:
    extra = row.event or {}
    timestamp = extra.get("timestamp")
    return MessageEvent(
        server=ServerRef.parse(row.server_key),
        channel_id=row.channel_id,
        message_id=row.message_id,
        author_id=row.author_id,
        text=row.text,
        timestamp=datetime.fromisoformat(timestamp) if timestamp else row.received_at,
        thread_id=row.thread_id,
        author_role_ids=tuple(extra.get("author_role_ids", ())),
        attachments=tuple(Attachment(**a) for a in extra.get("attachments", ())),
        reply_to_id=extra.get("reply_to_id"),
        context=tuple(ContextMessage(**c) for c in extra.get("context", ())),
        edited=row.edited,
    )


def verdict_values(item: VerdictToSave, now: datetime) -> dict[str, Any]:
    """The ``verdicts`` row of one item, as plain column values (what the bulk insert takes)."""
    verdict = item.verdict
    return {
        "message_row_id": item.row_id,
        "server_key": item.server.key,
        "policy_version": verdict.policy_version,
        "decision": verdict.decision.value,
        "stage": verdict.stage.value,
        "categories": list(verdict.categories),
        "rule_ids": list(verdict.rule_ids),
        "confidence": verdict.confidence,
        "score": verdict.score,
        "rationale": verdict.rationale,
        "reasoning": verdict.reasoning,
        "model": verdict.model,
        "latency_ms": verdict.latency_ms,
        "prompt_tokens": verdict.tokens.prompt,
        "prompt_tokens_evaluated": verdict.tokens.prompt_evaluated,
        "completion_tokens": verdict.tokens.completion,
        "truncated": verdict.truncated,
        "error": verdict.error,
        "raw_output": verdict.raw_output,
        "shadow": item.shadow,
        "found_by_audit": verdict.found_by_audit,
        "audit_share": item.audit_share,
        "candidate": item.candidate,
        "created_at": now,
    }


def verdict_from_row(row: VerdictRow) -> Verdict:
    return Verdict(
        decision=Decision(row.decision),
        stage=Stage(row.stage),
        policy_version=row.policy_version,
        categories=tuple(row.categories or ()),
        rule_ids=tuple(row.rule_ids or ()),
        confidence=row.confidence,
        rationale=row.rationale,
        reasoning=row.reasoning,
        model=row.model,
        latency_ms=row.latency_ms,
        tokens=TokenCounts(row.prompt_tokens, row.prompt_tokens_evaluated, row.completion_tokens),
        truncated=row.truncated,
        error=row.error,
        raw_output=row.raw_output,
        score=row.score,
        found_by_audit=bool(row.found_by_audit),
    )


def case_from_rows(case: CaseRow, verdict: VerdictRow, message: MessageRow) -> Case:
    return Case(
        id=case.id,
        event=event_from_row(message),
        verdict=verdict_from_row(verdict),
        status=CaseStatus(case.status),
        created_at=aware(case.created_at),
        posted_ref=case.posted_ref,
        number=case.number or 0,
    )


def policy_from_row(row: PolicyVersionRow) -> Policy:
    # A plain policy (no front matter) has no id of its own in its text: the stored one is it.
    return parse_policy(row.text, source=f"db:{row.policy_id}@{row.version}", default_id=row.policy_id)


def policy_record(row: PolicyVersionRow, active_id: int | None) -> PolicyRecord:
    return PolicyRecord(
        row_id=row.id,
        policy_id=row.policy_id,
        title=row.title,
        version=row.version,
        builtin=row.server_key is None,
        created_at=aware(row.created_at),
        active=row.id == active_id,
    )


def action_record(row: ActionRow) -> ActionRecord:
    return ActionRecord(
        id=row.id,
        server=ServerRef.parse(row.server_key),
        kind=ActionKind(row.kind),
        case_id=row.case_id,
        ok=row.ok,
        detail=row.detail,
        permission_problem=row.permission_problem,
        platform_ref=row.platform_ref,
        requested_by=row.requested_by,
        created_at=aware(row.created_at),
        channel_id=row.channel_id,
        message_id=row.message_id,
        user_id=row.user_id,
        duration_s=row.duration_s,
    )


def audit_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        server=ServerRef.parse(row.server_key),
        actor_id=row.actor_id,
        command=row.command,
        arguments=dict(row.arguments or {}),
        allowed=row.allowed,
        result=row.result,
        created_at=aware(row.created_at),
    )
