"""A moderator's report of a missed violation, stored in one transaction (``SqlVerdictLog.save_report``).

The reported revision is recorded if the bot never saw it (as judged: a moderator has labelled it), the
report's verdict stored, a case opened and its actions planned. A revision that already has a case is
left as it is and that case returned, so reporting the same message twice gives one case.
"""

from __future__ import annotations

from sqlalchemy import select

from modbot.domain import Action, CaseStatus, MessageEvent, MessageStatus, Verdict, utcnow
from modbot.domain.records import SavedReport, VerdictToSave
from modbot.store._base import Database
from modbot.store._mapping import verdict_values
from modbot.store.cases import next_case_numbers
from modbot.store.messages import message_values
from modbot.store.outbox import insert_planned, outbox_values
from modbot.store.schema import CaseRow, MessageRow, VerdictRow

__all__ = ["save_report"]


async def save_report(
    db: Database,
    event: MessageEvent,
    verdict: Verdict,
    *,
    shadow: bool,
    actions: tuple[Action, ...] = (),
    requested_by: str | None = None,
) -> SavedReport:
    key = event.server.key
    now = utcnow()
    async with db.writing() as session:
        message = await session.scalar(
            select(MessageRow).where(
                MessageRow.server_key == key,
                MessageRow.message_id == event.message_id,
                MessageRow.content_hash == event.content_hash,
            )
        )
        if message is not None:
            existing = await session.scalar(
                select(CaseRow.id)
                .where(CaseRow.server_key == key, CaseRow.message_row_id == message.id)
                .order_by(CaseRow.id)
                .limit(1)
            )
            if existing is not None:
                return SavedReport(existing, created=False)
            if message.status == MessageStatus.PENDING.value:
                # A moderator has labelled it; the pipeline leaves a judged revision alone.
                message.status = MessageStatus.JUDGED.value
                message.updated_at = now
        else:
            message = MessageRow(**message_values(event, MessageStatus.JUDGED, now))
            session.add(message)
            await session.flush()
        verdict_row = VerdictRow(**verdict_values(VerdictToSave(message.id, event.server, verdict, shadow, True), now))
        session.add(verdict_row)
        await session.flush()
        case = CaseRow(
            server_key=key,
            number=(await next_case_numbers(session, {key}))[key],
            verdict_id=verdict_row.id,
            message_row_id=message.id,
            author_id=event.author_id,
            status=CaseStatus.OPEN.value,
            posted_ref=None,
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        await session.flush()
        planned = await insert_planned(
            db, session, [outbox_values(a, case_id=case.id, requested_by=requested_by, now=now) for a in actions]
        )
        case_id = case.id
        await session.commit()
    return SavedReport(case_id, created=True, planned=tuple(planned))
