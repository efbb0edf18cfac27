"""``ActionOutbox`` on SQLAlchemy: planned actions, kept until their outcome is final.

A verdict's actions are inserted by ``SqlVerdictLog.save_verdicts`` in the verdict's own transaction
(through ``insert_planned``); settling one writes its ``actions`` row and deletes it from the outbox
in one transaction, so an action is either still planned or recorded, never neither.

Claims (``modbot.store.claims``): a row is held by ``claimed_by`` until ``next_attempt_at``. Its planner
holds it from the start; a runner takes a due row (lease over, or its holder a dead incarnation on
this machine) for one attempt; a retry releases it until its next attempt. A live process's lease is
never broken, so with several processes an action is attempted by one at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import Action, ActionKind, ActionOutcome, ServerRef, utcnow
from modbot.domain.records import PLANNED_ACTION_LEASE_S, PlannedAction
from modbot.store._base import Database, StoreAdapter
from modbot.store._bulk import insert_many
from modbot.store._mapping import aware
from modbot.store.actions import action_row
from modbot.store.claims import dead_holders
from modbot.store.schema import OutboxRow

__all__ = ["SqlActionOutbox", "insert_planned", "outbox_values"]

_ERROR_LIMIT = 2000


def outbox_values(action: Action, *, case_id: int | None, requested_by: str | None, now: datetime) -> dict[str, Any]:
    """An outbox row for ``action``; a new idempotency key unless the action already has one.

    The row starts claimed by its planner (who runs it at once), so a sweep does not take it meanwhile.
    """
    return {
        "server_key": action.server.key,
        "case_id": case_id,
        "kind": action.kind.value,
        "channel_id": action.channel_id,
        "thread_id": action.thread_id,
        "message_id": action.message_id,
        "user_id": action.user_id,
        "duration_s": action.duration_s,
        "mod_channel_id": action.mod_channel_id,
        "reason": action.reason,
        "member_notice": action.member_notice,
        "requested_by": requested_by,
        "idempotency_key": action.idempotency_key or uuid.uuid4().hex,
        "attempts": 0,
        "next_attempt_at": now + timedelta(seconds=PLANNED_ACTION_LEASE_S),
        "last_error": "",
        "created_at": now,
    }


async def insert_planned(db: Database, session: AsyncSession, rows: list[dict[str, Any]]) -> list[PlannedAction]:
    """Insert outbox rows inside the caller's transaction; returns them as planned actions, input order."""
    if not rows:
        return []
    holder = str(db.holder)
    rows = [{**row, "claimed_by": holder} for row in rows]  # its planner runs it at once
    await insert_many(db, session, OutboxRow.__table__, rows)
    keys = [row["idempotency_key"] for row in rows]
    stored = {row.idempotency_key: row for row in await session.scalars(select(OutboxRow).where(OutboxRow.idempotency_key.in_(keys)))}
    return [_planned(stored[key]) for key in keys]


def _planned(row: OutboxRow) -> PlannedAction:
    action = Action(
        ActionKind(row.kind),
        server=ServerRef.parse(row.server_key),
        channel_id=row.channel_id,
        message_id=row.message_id,
        user_id=row.user_id,
        reason=row.reason,
        duration_s=row.duration_s,
        thread_id=row.thread_id,
        mod_channel_id=row.mod_channel_id,
        member_notice=row.member_notice,
        idempotency_key=row.idempotency_key,
    )
    return PlannedAction(row.id, action, row.case_id, row.attempts, aware(row.created_at), row.requested_by)


class SqlActionOutbox(StoreAdapter):
    """The outbox table; the dispatcher is its only user."""

    async def plan_actions(self, actions: list[Action], *, requested_by: str | None = None) -> list[PlannedAction]:
        if not actions:
            return []
        now = utcnow()
        rows = [
            outbox_values(a, case_id=a.case.id if a.case else None, requested_by=requested_by, now=now) for a in actions
        ]
        async with self._db.writing() as session:
            planned = await insert_planned(self._db, session, rows)
            await session.commit()
        return planned

    async def due_actions(self, limit: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[PlannedAction]:
        """Unsettled actions that may be claimed now (lease over, or held by a dead process), oldest first."""
        async with self._db.reading() as session:
            claimable = await _claimable(session)
            rows = (await session.scalars(select(OutboxRow).where(claimable).order_by(OutboxRow.id).limit(limit + len(exclude)))).all()
        return [_planned(row) for row in rows if row.id not in exclude][:limit]

    async def claim(self, planned: PlannedAction) -> bool:
        """Take a due action for one attempt (a lease); False if another runner has it or it is settled."""
        now = utcnow()
        async with self._db.writing() as session:
            claimable = await _claimable(session, now)
            # One conditional UPDATE: atomic on both databases. RETURNING, not rowcount (drivers differ).
            result = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == planned.id, claimable)
                .values(next_attempt_at=now + timedelta(seconds=PLANNED_ACTION_LEASE_S), claimed_by=str(self._db.holder))
                .returning(OutboxRow.id)
            )
            taken = result.scalar() is not None
            await session.commit()
            return taken

    async def settle(self, planned: PlannedAction, action: Action, outcome: ActionOutcome) -> int | None:
        """Record the outcome and remove the outbox row; None (nothing recorded) if it was settled already."""
        row = action_row(action, outcome, requested_by=planned.requested_by, case_id=planned.case_id)
        async with self._db.writing() as session:
            removed = await session.execute(delete(OutboxRow).where(OutboxRow.id == planned.id).returning(OutboxRow.id))
            if removed.scalar() is None:
                await session.rollback()
                return None
            session.add(row)
            await session.commit()
            return row.id

    async def retry_later(self, planned: PlannedAction, at: datetime, detail: str) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == planned.id)
                .values(
                    attempts=OutboxRow.attempts + 1, next_attempt_at=at, last_error=detail[:_ERROR_LIMIT], claimed_by=None
                )
            )
            await session.commit()

    async def count_unsettled(self, server: ServerRef | None = None) -> int:
        async with self._db.reading() as session:
            query = select(func.count(OutboxRow.id))
            if server is not None:
                query = query.where(OutboxRow.server_key == server.key)
            return int(await session.scalar(query) or 0)

    async def release_claims(self) -> None:
        """Give up this process's leases (it is closing): another process may attempt those actions now."""
        async with self._db.writing() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.claimed_by == str(self._db.holder))
                .values(next_attempt_at=utcnow(), claimed_by=None)
            )
            await session.commit()


async def _claimable(session: AsyncSession, now: datetime | None = None) -> Any:
    """The condition of a row that may be claimed: its lease is over, or its holder is dead."""
    now = now or utcnow()
    held = set(
        (
            await session.scalars(
                select(OutboxRow.claimed_by).where(OutboxRow.next_attempt_at > now, OutboxRow.claimed_by.is_not(None)).distinct()
            )
        ).all()
    )
    dead = dead_holders(held)
    return or_(OutboxRow.next_attempt_at <= now, OutboxRow.claimed_by.in_(dead)) if dead else OutboxRow.next_attempt_at <= now
