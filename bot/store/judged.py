"""Stored messages with the verdicts the bot acted on, for ``policy replay`` and ``/mod policy diff``.

Read by ``SqlVerdictLog.judged_messages``. The live verdict of a revision is the first of the bot's own
verdicts on it (the one its actions were planned from; a follow-up reasoning or an audit comes later);
a shadow policy's verdict is the candidate. A moderator's review of any case of the revision says
whether it was a violation (upheld) or not (overturned).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import CaseStatus, MessageStatus, ServerRef, Stage
from modbot.domain.replay import JudgedMessage
from modbot.store._mapping import event_from_row, verdict_from_row
from modbot.store.schema import CaseRow, MessageRow, VerdictRow

__all__ = ["read_judged_messages"]

_DECIDED = (CaseStatus.UPHELD.value, CaseStatus.OVERTURNED.value)


async def read_judged_messages(
    session: AsyncSession,
    server: ServerRef,
    limit: int,
    *,
    since: datetime | None = None,
    candidate_version: str | None = None,
) -> list[JudgedMessage]:
    """The newest ``limit`` judged revisions of ``server`` (oldest of them first).

    With ``candidate_version``: only revisions a shadow policy of that version judged (since ``since``),
    each with that verdict as ``candidate``.
    """
    key = server.key
    if candidate_version is not None:
        ids_query = select(VerdictRow.message_row_id).where(
            VerdictRow.server_key == key,
            VerdictRow.candidate.is_(True),
            VerdictRow.policy_version == candidate_version,
        )
        if since is not None:
            ids_query = ids_query.where(VerdictRow.created_at >= since)
        ids_query = ids_query.order_by(VerdictRow.message_row_id.desc())
    else:
        ids_query = select(MessageRow.id).where(
            MessageRow.server_key == key, MessageRow.status == MessageStatus.JUDGED.value
        )
        if since is not None:
            ids_query = ids_query.where(MessageRow.received_at >= since)
        ids_query = ids_query.order_by(MessageRow.id.desc())
    row_ids = list(dict.fromkeys((await session.scalars(ids_query.limit(limit))).all()))
    if not row_ids:
        return []
    messages = {
        row.id: row
        for row in await session.scalars(
            select(MessageRow).where(MessageRow.server_key == key, MessageRow.id.in_(row_ids))
        )
    }
    live: dict[int, VerdictRow] = {}
    candidate: dict[int, VerdictRow] = {}
    for verdict in await session.scalars(
        select(VerdictRow)
        .where(VerdictRow.server_key == key, VerdictRow.message_row_id.in_(row_ids))
        .order_by(VerdictRow.id)
    ):
        if verdict.candidate:
            if verdict.policy_version == candidate_version:
                candidate.setdefault(verdict.message_row_id, verdict)
        elif not verdict.found_by_audit and verdict.stage != Stage.REPORT.value:
            live.setdefault(verdict.message_row_id, verdict)
    reviewed: dict[int, bool] = {}
    for row_id, status in await session.execute(
        select(CaseRow.message_row_id, CaseRow.status)
        .where(CaseRow.server_key == key, CaseRow.message_row_id.in_(row_ids), CaseRow.status.in_(_DECIDED))
        .order_by(CaseRow.updated_at, CaseRow.id)
    ):
        reviewed[row_id] = status == CaseStatus.UPHELD.value  # the newest decision wins
    result = []
    for row_id in sorted(row_ids):
        row = messages.get(row_id)
        if row is None:
            continue
        result.append(
            JudgedMessage(
                row_id=row_id,
                event=event_from_row(row),
                live=verdict_from_row(live[row_id]) if row_id in live else None,
                candidate=verdict_from_row(candidate[row_id]) if row_id in candidate else None,
                reviewed=reviewed.get(row_id),
            )
        )
    return result
