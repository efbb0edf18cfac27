"""Labels from the bot's own work, and the counts of the live recall estimate (``SqlVerdictLog``).

One label per message revision, strongest source first: a moderator's review of its case (uphold =
unsafe, overturn = safe), else a moderator's report (unsafe), else its newest reasoner verdict (an
audit's included). Reasoner answers that could not be parsed are no label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import CaseStatus, Decision, ServerRef, Stage
from modbot.domain.figures import AuditTally, RecallCounts
from modbot.domain.records import Label, LabelSource
from modbot.store._mapping import aware
from modbot.store.messages import REMOVED_TEXTS
from modbot.store.schema import CaseRow, MessageRow, VerdictRow

__all__ = ["bot_verdicts", "read_labels", "read_recall_counts"]

_DECIDED = (CaseStatus.UPHELD.value, CaseStatus.OVERTURNED.value)


def bot_verdicts() -> tuple[ColumnElement[bool], ...]:
    """The bot judging a message: not an audit's second look, not a moderator's report."""
    return (
        VerdictRow.found_by_audit.is_(False),
        VerdictRow.stage != Stage.REPORT.value,
        VerdictRow.candidate.is_(False),  # a shadow policy's verdict is not the bot judging
    )


def _in(column: Any, servers: Sequence[ServerRef] | None) -> tuple[ColumnElement[bool], ...]:
    return () if servers is None else (column.in_([s.key for s in servers]),)


def _weight(found_by_audit: bool, share: float | None) -> float:
    return 1.0 / share if found_by_audit and share else 1.0


def _category(categories: list[str] | None, unsafe: bool) -> str | None:
    return categories[0] if unsafe and categories else None


async def read_labels(
    session: AsyncSession, servers: Sequence[ServerRef] | None, since: datetime | None, limit: int
) -> list[Label]:
    reviews = (
        select(
            CaseRow.message_row_id, CaseRow.server_key, CaseRow.status, CaseRow.updated_at, MessageRow.text,
            VerdictRow.categories, VerdictRow.found_by_audit, VerdictRow.audit_share,
        )
        .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
        .join(MessageRow, MessageRow.id == CaseRow.message_row_id)
        .where(CaseRow.status.in_(_DECIDED), MessageRow.text.not_in(REMOVED_TEXTS), *_in(CaseRow.server_key, servers))
    )
    if since is not None:
        reviews = reviews.where(CaseRow.updated_at >= since)
    labels: dict[int, Label] = {}
    for row_id, key, status, at, text, categories, audit, share in await session.execute(
        reviews.order_by(CaseRow.updated_at.desc(), CaseRow.id.desc()).limit(limit)
    ):
        unsafe = status == CaseStatus.UPHELD.value
        labels.setdefault(
            row_id,
            Label(text, unsafe, _category(categories, unsafe), LabelSource.REVIEW, _weight(audit, share),
                  aware(at), ServerRef.parse(key), 1.0, row_id),
        )
    decided = select(CaseRow.message_row_id).where(CaseRow.status.in_(_DECIDED))
    verdicts = (
        select(
            VerdictRow.message_row_id, VerdictRow.server_key, VerdictRow.stage, VerdictRow.decision,
            VerdictRow.categories, VerdictRow.confidence, VerdictRow.found_by_audit, VerdictRow.audit_share,
            VerdictRow.created_at, MessageRow.text,
        )
        .join(MessageRow, MessageRow.id == VerdictRow.message_row_id)
        .where(
            VerdictRow.stage.in_((Stage.REASONER.value, Stage.REPORT.value)),
            VerdictRow.error.is_(None),
            VerdictRow.candidate.is_(False),
            MessageRow.text.not_in(REMOVED_TEXTS),
            VerdictRow.message_row_id.not_in(decided),
            *_in(VerdictRow.server_key, servers),
        )
    )
    if since is not None:
        verdicts = verdicts.where(VerdictRow.created_at >= since)
    # Newest first: the first verdict seen of a revision is its newest; a report outranks the reasoner.
    for row_id, key, stage, decision, categories, confidence, audit, share, at, text in await session.execute(
        verdicts.order_by(VerdictRow.id.desc()).limit(2 * limit)
    ):
        known = labels.get(row_id)
        if known is not None and (known.source in (LabelSource.REVIEW, LabelSource.REPORT) or stage != Stage.REPORT.value):
            continue
        if stage == Stage.REPORT.value:
            label = Label(text, True, _category(categories, True), LabelSource.REPORT, 1.0, aware(at),
                          ServerRef.parse(key), 1.0, row_id)
        else:
            unsafe = decision != Decision.ALLOW.value
            source = LabelSource.AUDIT if audit else LabelSource.REASONER
            label = Label(text, unsafe, _category(categories, unsafe), source, _weight(audit, share), aware(at),
                          ServerRef.parse(key), float(confidence), row_id)
        labels[row_id] = label
    newest = sorted(labels.values(), key=lambda label: (label.created_at, label.row_id), reverse=True)[:limit]
    return list(reversed(newest))


async def read_recall_counts(session: AsyncSession, servers: Sequence[ServerRef], since: datetime) -> RecallCounts:
    if not servers:
        return RecallCounts(0, 0)
    scope = (*_in(VerdictRow.server_key, servers), VerdictRow.created_at >= since)
    allowed = int(
        await session.scalar(
            select(func.count(VerdictRow.id)).where(
                *scope, *bot_verdicts(), VerdictRow.stage == Stage.PREFILTER.value,
                VerdictRow.decision == Decision.ALLOW.value,
            )
        )
        or 0
    )
    caught = set(
        (
            await session.scalars(
                select(VerdictRow.message_row_id).where(
                    *scope, *bot_verdicts(), VerdictRow.decision != Decision.ALLOW.value, VerdictRow.error.is_(None)
                )
            )
        ).all()
    )
    # Reviews decide: an overturned case was no violation, an upheld error escalation was one.
    for row_id, status, audit, stage in await session.execute(
        select(CaseRow.message_row_id, CaseRow.status, VerdictRow.found_by_audit, VerdictRow.stage)
        .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
        .where(*scope, CaseRow.status.in_(_DECIDED))
    ):
        if audit or stage == Stage.REPORT.value:
            continue
        if status == CaseStatus.OVERTURNED.value:
            caught.discard(row_id)
        else:
            caught.add(row_id)
    tallies: dict[float, list[int]] = {}
    for share, decision, status in await session.execute(
        select(VerdictRow.audit_share, VerdictRow.decision, CaseRow.status)
        .outerjoin(CaseRow, CaseRow.verdict_id == VerdictRow.id)
        .where(*scope, VerdictRow.found_by_audit.is_(True), VerdictRow.error.is_(None))
    ):
        if not share:
            continue
        if status in _DECIDED:
            violation = status == CaseStatus.UPHELD.value
        else:
            violation = decision != Decision.ALLOW.value
        tally = tallies.setdefault(float(share), [0, 0])
        tally[0] += 1
        tally[1] += int(violation)
    audits = tuple(AuditTally(share, n, k) for share, (n, k) in sorted(tallies.items()))
    return RecallCounts(caught=len(caught), allowed=allowed, audits=audits)
