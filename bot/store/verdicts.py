"""``VerdictLog`` on SQLAlchemy: verdicts, written with the judged status and the cases they open."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import (
    Action,
    ActionKind,
    CaseStatus,
    Decision,
    MessageEvent,
    ReviewOutcome,
    ServerRef,
    Stage,
    Verdict,
    utcnow,
)
from modbot.domain.figures import RecallCounts
from modbot.domain.replay import JudgedMessage
from modbot.domain.records import Label, PlannedAction, SavedReport, SavedVerdict, ServerStats, VerdictToSave
from modbot.store._base import Database, StoreAdapter
from modbot.store._bulk import insert_many, mark_judged
from modbot.store._mapping import verdict_from_row, verdict_values
from modbot.store.cases import next_case_numbers
from modbot.store.judged import read_judged_messages
from modbot.store.labels import bot_verdicts, read_labels, read_recall_counts
from modbot.store.outbox import insert_planned, outbox_values
from modbot.store.reports import save_report
from modbot.store.schema import ActionRow, CaseRow, MessageRow, ReviewRow, VerdictRow

__all__ = ["SqlVerdictLog"]

#: The actions that count as "acted" in the stats: the ones that did something to the member.
_ENFORCEMENT = (ActionKind.DELETE.value, ActionKind.TIMEOUT.value, ActionKind.BAN.value)


class SqlVerdictLog(StoreAdapter):
    """Verdicts of every stage, and the per-server figures computed from them."""

    async def save_verdicts(self, items: list[VerdictToSave]) -> list[SavedVerdict]:
        """Store verdicts, mark their messages judged and open cases, in one transaction; input order.

        The verdict id is only looked up where a case was opened (or the fast path knows it for free).
        """
        if not items:
            return []
        async with self._db.writing() as session:
            now = utcnow()
            if await mark_judged(self._db, session, [(i.row_id, i.server.key) for i in items], now) != len(items):
                raise LookupError("a verdict names a message row that does not exist or belongs to another server")
            # A verdict already stored (another process judged the same revision: the same event
            # delivered to two shards) is not stored, acted on or cased again: its identity is unique.
            fresh = await _not_yet_stored(session, items)
            verdict_ids = await insert_many(self._db, session, VerdictRow.__table__, [verdict_values(i, now) for i in fresh])
            case_items = [i for i in fresh if i.open_case]
            case_ids: dict[int, int] = {}
            by_item: dict[int, int] = {}
            if case_items:
                if verdict_ids is None:
                    by_item = await _verdict_ids(session, case_items)
                else:
                    by_item = {id(i): vid for i, vid in zip(fresh, verdict_ids) if i.open_case}
                case_ids = await _open_cases(self._db, session, case_items, by_item, now)
            case_of = {id(i): case_ids.get(by_item[id(i)]) for i in case_items}
            planned = await _plan_actions(self._db, session, fresh, case_of, now)
            await session.commit()
        position = {id(item): index for index, item in enumerate(fresh)}
        results = []
        for item in items:
            index = position.get(id(item))
            if index is None:
                results.append(SavedVerdict(None, None))
                continue
            verdict_id = verdict_ids[index] if verdict_ids is not None else by_item.get(id(item))
            results.append(SavedVerdict(verdict_id, case_of.get(id(item)), planned.get(id(item), ())))
        return results

    async def has_verdict(self, row_id: int, policy_version: str) -> bool:
        async with self._db.reading() as session:
            found = await session.scalar(
                select(VerdictRow.id)
                .where(VerdictRow.message_row_id == row_id, VerdictRow.policy_version == policy_version)
                .limit(1)
            )
            return found is not None

    async def verdicts_for(self, server: ServerRef, row_id: int) -> list[Verdict]:
        """Every verdict stored for one message revision of ``server``, in the order they were stored."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(VerdictRow)
                .where(
                    VerdictRow.server_key == server.key,
                    VerdictRow.message_row_id == row_id,
                    VerdictRow.candidate.is_(False),  # a shadow policy's verdicts are read by replay alone
                )
                .order_by(VerdictRow.id)
            )
            return [verdict_from_row(row) for row in rows]

    async def judged_messages(
        self, server: ServerRef, limit: int = 500, *, since: datetime | None = None, candidate_version: str | None = None
    ) -> list[JudgedMessage]:
        """Judged revisions with their live verdicts (and a shadow policy's); see ``modbot.store.judged``."""
        async with self._db.reading() as session:
            return await read_judged_messages(session, server, limit, since=since, candidate_version=candidate_version)

    async def judged_count(self, server: ServerRef, since: datetime) -> int:
        """Messages of ``server`` judged since ``since`` (by the bot's own verdicts; audits, reports left out)."""
        async with self._db.reading() as session:
            return await _count(
                session,
                select(func.count(func.distinct(VerdictRow.message_row_id))).where(
                    VerdictRow.server_key == server.key, VerdictRow.created_at >= since, *bot_verdicts()
                ),
            )

    async def save_report(
        self,
        event: MessageEvent,
        verdict: Verdict,
        *,
        shadow: bool,
        actions: tuple[Action, ...] = (),
        requested_by: str | None = None,
    ) -> SavedReport:
        """Record a moderator's report (see ``modbot.ports.VerdictLog.save_report``)."""
        return await save_report(self._db, event, verdict, shadow=shadow, actions=actions, requested_by=requested_by)

    async def labels(
        self, servers: Sequence[ServerRef] | None = None, *, since: datetime | None = None, limit: int = 10_000
    ) -> list[Label]:
        """One label per message revision from verdicts, reports and reviews (see ``modbot.store.labels``)."""
        async with self._db.reading() as session:
            return await read_labels(session, servers, since, limit)

    async def recall_counts(self, servers: Sequence[ServerRef], since: datetime) -> RecallCounts:
        """What the live recall estimate needs (see ``modbot.domain.figures``)."""
        async with self._db.reading() as session:
            return await read_recall_counts(session, servers, since)

    async def stats(self, server: ServerRef, since: datetime, days: int) -> ServerStats:
        """Figures of ``server`` since ``since``; reviews and actions are counted by their domain enums.

        Decisions, escalations and latency are the bot's own verdicts: an audit's second verdict and a
        moderator's report are not the bot judging a message (reports are counted on their own).
        """
        key = server.key
        async with self._db.reading() as session:
            seen = await _count(
                session, select(func.count(MessageRow.id)).where(MessageRow.server_key == key, MessageRow.received_at >= since)
            )
            period = (VerdictRow.server_key == key, VerdictRow.created_at >= since)
            recent = (*period, *bot_verdicts())
            reported = await _count(
                session, select(func.count(VerdictRow.id)).where(*period, VerdictRow.stage == Stage.REPORT.value)
            )
            decisions = dict(
                (
                    await session.execute(
                        select(VerdictRow.decision, func.count(VerdictRow.id)).where(*recent).group_by(VerdictRow.decision)
                    )
                ).all()
            )
            escalated = await _count(
                session,
                select(func.count(VerdictRow.id)).where(
                    *recent, or_(VerdictRow.stage == Stage.REASONER.value, VerdictRow.decision == Decision.ESCALATE.value)
                ),
            )
            acted = await _count(
                session,
                select(func.count(func.distinct(ActionRow.case_id))).where(
                    ActionRow.server_key == key,
                    ActionRow.created_at >= since,
                    ActionRow.ok.is_(True),
                    ActionRow.kind.in_(_ENFORCEMENT),
                ),
            )
            reviews = dict(
                (
                    await session.execute(
                        select(ReviewRow.outcome, func.count(ReviewRow.id))
                        .where(ReviewRow.server_key == key, ReviewRow.created_at >= since)
                        .group_by(ReviewRow.outcome)
                    )
                ).all()
            )
            open_cases = await _count(
                session,
                select(func.count(CaseRow.id)).where(CaseRow.server_key == key, CaseRow.status == CaseStatus.OPEN.value),
            )
            latencies = (await session.scalars(select(VerdictRow.latency_ms).where(*recent))).all()
        return ServerStats(
            days=days,
            messages_seen=seen,
            escalated=escalated,
            acted=acted,
            overturned=int(reviews.get(ReviewOutcome.OVERTURN.value, 0)),
            upheld=int(reviews.get(ReviewOutcome.UPHOLD.value, 0)),
            open_cases=open_cases,
            median_latency_ms=statistics.median(latencies) if latencies else None,
            decisions={str(k): int(v) for k, v in decisions.items()},
            reported=reported,
        )


async def _plan_actions(
    db: Database, session: AsyncSession, items: list[VerdictToSave], case_of: dict[int, int | None], now: datetime
) -> dict[int, tuple[PlannedAction, ...]]:
    """Write the items' actions to the outbox with the cases just opened; planned actions by item identity."""
    owners, rows = [], []
    for item in items:
        for action in item.actions:
            owners.append(id(item))
            rows.append(outbox_values(action, case_id=case_of.get(id(item)), requested_by=None, now=now))
    grouped: dict[int, list[PlannedAction]] = {}
    for owner, planned in zip(owners, await insert_planned(db, session, rows)):
        grouped.setdefault(owner, []).append(planned)
    return {owner: tuple(planned) for owner, planned in grouped.items()}


async def _not_yet_stored(session: AsyncSession, items: list[VerdictToSave]) -> list[VerdictToSave]:
    """The items whose verdict identity (message revision, policy version, stage) is not stored yet."""
    stored = set(
        (
            await session.execute(
                select(VerdictRow.message_row_id, VerdictRow.policy_version, VerdictRow.stage).where(
                    VerdictRow.message_row_id.in_({i.row_id for i in items})
                )
            )
        ).all()
    )
    fresh = []
    for item in items:
        identity = (item.row_id, item.verdict.policy_version, item.verdict.stage.value)
        if identity not in stored:
            stored.add(identity)  # the same identity twice in one batch: the first one counts
            fresh.append(item)
    return fresh


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(query) or 0)


async def _verdict_ids(session: AsyncSession, items: list[VerdictToSave]) -> dict[int, int]:
    """The ids of just-inserted verdicts, by item identity, looked up through their unique key."""
    stored = {
        (row_id, version, stage): verdict_id
        for verdict_id, row_id, version, stage in await session.execute(
            select(VerdictRow.id, VerdictRow.message_row_id, VerdictRow.policy_version, VerdictRow.stage).where(
                VerdictRow.message_row_id.in_({i.row_id for i in items})
            )
        )
    }
    return {id(i): stored[(i.row_id, i.verdict.policy_version, i.verdict.stage.value)] for i in items}


async def _open_cases(
    db: Database, session: AsyncSession, items: list[VerdictToSave], verdict_ids: dict[int, int], now: datetime
) -> dict[int, int]:
    """Open one case per item, numbered per server in item order; returns case ids by verdict id."""
    numbers = await next_case_numbers(session, {i.server.key for i in items})
    number_of: dict[int, int] = {}
    for i in items:
        number_of[id(i)] = numbers[i.server.key]
        numbers[i.server.key] += 1
    authors = dict(
        (
            await session.execute(
                select(MessageRow.id, MessageRow.author_id).where(MessageRow.id.in_({i.row_id for i in items}))
            )
        ).all()
    )
    await insert_many(
        db,
        session,
        CaseRow.__table__,
        [
            {
                "server_key": i.server.key,
                "number": number_of[id(i)],
                "verdict_id": verdict_ids[id(i)],
                "message_row_id": i.row_id,
                "author_id": authors[i.row_id],
                "status": CaseStatus.OPEN.value,
                "posted_ref": None,
                "created_at": now,
                "updated_at": now,
            }
            for i in items
        ],
    )
    return dict(
        (
            await session.execute(
                select(CaseRow.verdict_id, CaseRow.id).where(CaseRow.verdict_id.in_(list(verdict_ids.values())))
            )
        ).all()
    )
