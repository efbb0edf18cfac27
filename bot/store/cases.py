"""``CaseBook`` on SQLAlchemy: cases, moderators' reviews of them, and the examples reviews yield."""

from __future__ import annotations

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import Case, CaseStatus, ReviewOutcome, ServerRef, utcnow
from modbot.domain.records import CasePage, LabelledText
from modbot.store._base import StoreAdapter
from modbot.store._mapping import case_from_rows
from modbot.store.messages import REMOVED_TEXTS
from modbot.store.schema import CaseRow, MessageRow, ReviewRow, ServerRow, VerdictRow

__all__ = ["SqlCaseBook", "next_case_numbers"]

#: Case states a moderator decided; their messages are the labelled examples the prefilter learns.
_DECIDED = (CaseStatus.UPHELD.value, CaseStatus.OVERTURNED.value)


def _with_verdict_and_message() -> Select[tuple[CaseRow, VerdictRow, MessageRow]]:
    """Cases with the verdict that opened them and the message it judged (what a ``Case`` holds)."""
    return (
        select(CaseRow, VerdictRow, MessageRow)
        .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
        .join(MessageRow, MessageRow.id == CaseRow.message_row_id)
    )


async def next_case_numbers(session: AsyncSession, server_keys: set[str]) -> dict[str, int]:
    """The next free case number of each server, inside the transaction that opens the cases.

    On SQLite the write lock serialises every case-opening transaction, so max + 1 is safe. Elsewhere
    the servers' rows are locked first (``FOR UPDATE``: a per-server counter lock), and the unique
    index (server, number) stays the backstop.
    """
    if not server_keys:
        return {}
    if session.bind.dialect.name != "sqlite":
        await session.execute(select(ServerRow.key).where(ServerRow.key.in_(server_keys)).with_for_update())
    found = dict(
        (
            await session.execute(
                select(CaseRow.server_key, func.max(CaseRow.number))
                .where(CaseRow.server_key.in_(server_keys))
                .group_by(CaseRow.server_key)
            )
        ).all()
    )
    return {key: int(found.get(key) or 0) + 1 for key in server_keys}


class SqlCaseBook(StoreAdapter):
    """Cases and reviews; every query is scoped by the server it acts for."""

    async def get_case(self, server: ServerRef, case_id: int) -> Case | None:
        async with self._db.reading() as session:
            found = (
                await session.execute(
                    _with_verdict_and_message().where(CaseRow.id == case_id, CaseRow.server_key == server.key)
                )
            ).first()
            return case_from_rows(*found) if found is not None else None

    async def get_case_by_number(self, server: ServerRef, number: int) -> Case | None:
        """A case by the number moderators see in ``server`` (1, 2, 3...)."""
        async with self._db.reading() as session:
            found = (
                await session.execute(
                    _with_verdict_and_message().where(CaseRow.number == number, CaseRow.server_key == server.key)
                )
            ).first()
            return case_from_rows(*found) if found is not None else None

    async def list_cases(
        self,
        server: ServerRef,
        *,
        status: CaseStatus | None = CaseStatus.OPEN,
        author_id: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> CasePage:
        """A page of the server's cases (newest first) and the total count; ``status`` None: all of them."""
        conditions = [CaseRow.server_key == server.key]
        if status is not None:
            conditions.append(CaseRow.status == CaseStatus(status).value)
        if author_id:
            conditions.append(CaseRow.author_id == author_id)
        async with self._db.reading() as session:
            total = int(await session.scalar(select(func.count(CaseRow.id)).where(*conditions)) or 0)
            rows = (
                await session.execute(
                    _with_verdict_and_message()
                    .where(*conditions)
                    .order_by(CaseRow.id.desc())
                    .offset(max(page - 1, 0) * per_page)
                    .limit(per_page)
                )
            ).all()
            return CasePage(tuple(case_from_rows(*row) for row in rows), total)

    async def set_case_status(self, server: ServerRef, case_id: int, status: CaseStatus) -> bool:
        """Set a case's status; False when the server has no such case."""
        async with self._db.writing() as session:
            result = await session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id, CaseRow.server_key == server.key)
                .values(status=CaseStatus(status).value, updated_at=utcnow())
                .returning(CaseRow.id)  # not rowcount: drivers differ (asyncpg reports -1 for some statements)
            )
            found = result.scalar() is not None
            await session.commit()
            return found

    async def set_case_posted_ref(self, server: ServerRef, case_id: int, ref: str) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(CaseRow).where(CaseRow.id == case_id, CaseRow.server_key == server.key).values(posted_ref=ref)
            )
            await session.commit()

    async def add_review(
        self, server: ServerRef, case_id: int, moderator_id: str, outcome: ReviewOutcome, note: str = ""
    ) -> int:
        """Record a review; only a ``ReviewOutcome`` is one (a ban or timeout is an action, not a review)."""
        row = ReviewRow(
            server_key=server.key,
            case_id=case_id,
            moderator_id=moderator_id,
            outcome=ReviewOutcome(outcome).value,
            note=note,
        )
        async with self._db.writing() as session:
            session.add(row)
            await session.commit()
            return row.id

    async def reviewed_examples(self, server: ServerRef, limit: int = 500) -> list[LabelledText]:
        """Texts of the server's decided cases, newest first: upheld = violation, overturned = fine."""
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(MessageRow.text, CaseRow.status)
                    .join(CaseRow, CaseRow.message_row_id == MessageRow.id)
                    .where(CaseRow.server_key == server.key, CaseRow.status.in_(_DECIDED))
                    .where(MessageRow.text.not_in(REMOVED_TEXTS))
                    .order_by(CaseRow.id.desc())
                    .limit(limit)
                )
            ).all()
            return [LabelledText(text, status == CaseStatus.UPHELD.value) for text, status in rows]

    async def reviewed_examples_by_server(self, limit_per_server: int = 500) -> dict[ServerRef, list[LabelledText]]:
        """Every server's reviewed examples, oldest first (replayed into the prefilter at start-up)."""
        async with self._db.reading() as session:
            keys = (await session.scalars(select(CaseRow.server_key).where(CaseRow.status.in_(_DECIDED)).distinct())).all()
        result = {}
        for key in keys:
            server = ServerRef.parse(key)
            result[server] = list(reversed(await self.reviewed_examples(server, limit_per_server)))
        return result
