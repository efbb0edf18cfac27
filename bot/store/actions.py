"""``ActionLog`` on SQLAlchemy: every action tried, its outcome and the platform's reference for it."""

from __future__ import annotations

from sqlalchemy import select

from modbot.domain import Action, ActionOutcome, ServerRef
from modbot.domain.records import ActionRecord
from modbot.store._base import StoreAdapter
from modbot.store._mapping import action_record
from modbot.store.schema import ActionRow

__all__ = ["SqlActionLog", "action_row"]

#: Platform error texts can be long (whole HTTP bodies); the first part is what anyone reads.
_DETAIL_LIMIT = 2000


def action_row(action: Action, outcome: ActionOutcome, *, requested_by: str | None, case_id: int | None = None) -> ActionRow:
    """The log row of an action tried (``case_id`` when the action does not carry its case)."""
    return ActionRow(
        server_key=action.server.key,
        case_id=action.case.id if action.case else case_id,
        kind=action.kind.value,
        channel_id=action.channel_id,
        message_id=action.message_id,
        user_id=action.user_id,
        duration_s=action.duration_s,
        requested_by=requested_by,
        ok=outcome.ok,
        detail=outcome.detail[:_DETAIL_LIMIT],
        permission_problem=outcome.permission_problem,
        platform_ref=outcome.platform_ref,
    )


class SqlActionLog(StoreAdapter):
    """Actions, failures and refusals included, scoped by server when read back."""

    async def record_action(self, action: Action, outcome: ActionOutcome, *, requested_by: str | None = None) -> int:
        row = action_row(action, outcome, requested_by=requested_by)
        async with self._db.writing() as session:
            session.add(row)
            await session.commit()
            return row.id

    async def actions_for_case(self, server: ServerRef, case_id: int) -> list[ActionRecord]:
        """The server's actions on one case, oldest first."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(ActionRow).where(ActionRow.server_key == server.key, ActionRow.case_id == case_id).order_by(ActionRow.id)
            )
            return [action_record(row) for row in rows]

    async def recent_actions(self, server: ServerRef, limit: int = 100) -> list[ActionRecord]:
        """A server's newest actions, oldest of them first."""
        async with self._db.reading() as session:
            rows = (
                await session.scalars(
                    select(ActionRow).where(ActionRow.server_key == server.key).order_by(ActionRow.id.desc()).limit(limit)
                )
            ).all()
            return [action_record(row) for row in reversed(rows)]
