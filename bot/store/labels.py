"""Labels from the bot's own work, and the counts of the live recall estimate (``SqlVerdictLog``).

The counts carry what the estimate needs to correct for the reasoner's errors: per message the
answer that decided it and its confidence, unless a moderator decided it (a review, or for an audited
message a report too).

One label per message revision, strongest source first: a moderator's review of its case (uphold =
unsafe, overturn = safe), else a moderator's report (unsafe), else its newest reasoner verdict (an
audit's included). Reasoner answers that could not be parsed are no label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import CaseStatus, Decision, ServerRef, Stage
from modbot.domain.figures import AuditTally, ReasonerTally, RecallCounts
from modbot.domain.noisy_rate import error_rate
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


class _Answers:
    """Running counts of a ``ReasonerTally`` or an ``AuditTally``: decided messages and answers with eps."""

    def __init__(self) -> None:
        self.n = self.violations = self.reviewed = self.upheld = 0
        self.eps = {True: 0.0, False: 0.0}
        self.said = {True: 0, False: 0}

    def add(self, decided: bool | None, violation: bool, confidence: float | None) -> None:
        """One message: ``decided`` by a moderator (True: a violation), else the reasoner's answer."""
        self.n += 1
        if decided is not None:
            self.reviewed += 1
            self.upheld += int(decided)
            self.violations += int(decided)
            return
        self.violations += int(violation)
        self.said[violation] += 1
        self.eps[violation] += error_rate(confidence)

    def mean_eps(self, violation: bool) -> float:
        return self.eps[violation] / self.said[violation] if self.said[violation] else 0.0

    def audit(self, share: float) -> AuditTally:
        return AuditTally(share, self.n, self.violations, self.reviewed, self.upheld,
                          self.mean_eps(True), self.mean_eps(False))  # fmt: skip

    def judged(self) -> ReasonerTally:
        return ReasonerTally(self.n, self.violations, self.reviewed, self.upheld,
                             self.mean_eps(True), self.mean_eps(False))  # fmt: skip


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
    reviewed: dict[int, bool] = {}
    for row_id, status, audit, stage in await session.execute(
        select(CaseRow.message_row_id, CaseRow.status, VerdictRow.found_by_audit, VerdictRow.stage)
        .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
        .where(*scope, CaseRow.status.in_(_DECIDED))
    ):
        if audit or stage == Stage.REPORT.value:
            continue
        reviewed[row_id] = status == CaseStatus.UPHELD.value
        if reviewed[row_id]:
            caught.add(row_id)
        else:
            caught.discard(row_id)
    reported = await _reported(session, scope)
    answers = await _answers(session, scope)
    judged = _Answers()
    for row_id, (violation, confidence) in answers.items():
        decided = reviewed.get(row_id, True if row_id in reported else None)
        judged.add(decided, violation, confidence)
        if decided and row_id not in reviewed:
            caught.add(row_id)  # reported after the reasoner let it through: the prefilter did send it on
    return RecallCounts(
        caught=len(caught), allowed=allowed, audits=await _audit_tallies(session, scope, reported),
        escalated=judged.judged(),
    )  # fmt: skip


async def _reported(session: AsyncSession, scope: tuple[ColumnElement[bool], ...]) -> set[int]:
    """Messages a moderator reported: violations, unless the report's own case was overturned."""
    return set(
        (
            await session.scalars(
                select(VerdictRow.message_row_id)
                .outerjoin(CaseRow, CaseRow.verdict_id == VerdictRow.id)
                .where(
                    *scope, VerdictRow.stage == Stage.REPORT.value,
                    or_(CaseRow.status.is_(None), CaseRow.status != CaseStatus.OVERTURNED.value),
                )
            )
        ).all()
    )  # fmt: skip


async def _answers(session: AsyncSession, scope: tuple[ColumnElement[bool], ...]) -> dict[int, tuple[bool, float]]:
    """The reasoner's answer on each escalated message it judged (not audits): violation?, confidence."""
    answers: dict[int, tuple[bool, float]] = {}
    for row_id, decision, confidence in await session.execute(
        select(VerdictRow.message_row_id, VerdictRow.decision, VerdictRow.confidence).where(
            *scope, *bot_verdicts(), VerdictRow.stage == Stage.REASONER.value, VerdictRow.error.is_(None)
        )
    ):
        violation = decision != Decision.ALLOW.value
        # One answer per message, as in ``caught``: a violating verdict of the message counts.
        if row_id not in answers or (violation and not answers[row_id][0]):
            answers[row_id] = (violation, confidence)
    return answers


async def _audit_tallies(
    session: AsyncSession, scope: tuple[ColumnElement[bool], ...], reported: set[int]
) -> tuple[AuditTally, ...]:
    tallies: dict[float, _Answers] = {}
    for share, decision, confidence, status, row_id in await session.execute(
        select(
            VerdictRow.audit_share, VerdictRow.decision, VerdictRow.confidence, CaseRow.status, VerdictRow.message_row_id
        )
        .outerjoin(CaseRow, CaseRow.verdict_id == VerdictRow.id)
        .where(*scope, VerdictRow.found_by_audit.is_(True), VerdictRow.error.is_(None))
    ):
        if not share:
            continue
        decided = status == CaseStatus.UPHELD.value if status in _DECIDED else True if row_id in reported else None
        tallies.setdefault(float(share), _Answers()).add(decided, decision != Decision.ALLOW.value, confidence)
    return tuple(t.audit(share) for share, t in sorted(tallies.items()))
