"""Bulk writes, with the SQLite fast path: one raw ``executemany`` with values converted here.

SQLAlchemy's per-row parameter processing costs 5-10x the insert itself on SQLite, and the intake and
verdict batches are the hot path of the whole bot. Other databases, and the tests of the generic
path, use plain SQLAlchemy Core statements; both paths store exactly the same rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import MessageStatus
from modbot.store._base import Database
from modbot.store.schema import MessageRow

__all__ = ["conflict_free_insert", "insert_many", "mark_judged"]


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy would bind it for SQLite (JSON text, naive UTC datetime text, 0/1)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_rows(columns: list[str], rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as driver tuples, converting only the columns whose values need it (JSON, datetimes, bools)."""
    convert = [
        i
        for i, column in enumerate(columns)
        if isinstance(next((row[column] for row in rows if row[column] is not None), None), (datetime, dict, list, bool))
    ]
    if not convert:
        return [tuple(row[column] for column in columns) for row in rows]
    stamps: dict[datetime, str] = {}  # a batch shares a handful of timestamps
    converted = []
    for row in rows:
        values = [row[column] for column in columns]
        for i in convert:
            value = values[i]
            if isinstance(value, datetime):
                text = stamps.get(value)
                if text is None:
                    text = stamps[value] = _sqlite_value(value)
                values[i] = text
            else:
                values[i] = _sqlite_value(value)
        converted.append(tuple(values))
    return converted


async def insert_many(
    db: Database, session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, skip_conflicts: bool = False
) -> list[int] | None:
    """Insert rows in one executemany; returns their ids in order when they are known for sure.

    A plain executemany is one round trip; INSERT ... RETURNING would go row by row on SQLite.
    ``skip_conflicts``: a row that breaks a unique key is left out (``ON CONFLICT DO NOTHING``, on
    SQLite and PostgreSQL alike) instead of failing the batch; the ids are then looked up by the caller.
    """
    if not rows:
        return []
    if db.bulk_via_driver:
        columns = list(rows[0])
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if skip_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        connection = await session.connection()
        changes = "SELECT total_changes()"  # rows this connection changed: other writers do not count
        before = (await connection.exec_driver_sql(changes)).scalar() or 0
        await connection.exec_driver_sql(sql, _sqlite_rows(columns, rows))
        inserted = ((await connection.exec_driver_sql(changes)).scalar() or 0) - before
        if inserted != len(rows):
            return None  # some skipped as conflicts: the caller looks the ids up
        # From its INSERT to its commit this transaction holds SQLite's write lock, and SQLite numbers
        # new rows max(id)+1, +2, ... in order: this batch's rows are the newest ids, contiguous.
        last = (await connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}")).scalar() or 0
        return list(range(last - len(rows) + 1, last + 1))
    if skip_conflicts:
        await session.execute(conflict_free_insert(session, table), rows)
        return None
    if session.bind.dialect.insert_executemany_returning_sort_by_parameter_order:
        # PostgreSQL (and recent SQLite): one multi-row INSERT ... RETURNING, ids in input order.
        result = await session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        return list(result.scalars())
    await session.execute(insert(table), rows)
    return None


def conflict_free_insert(session: AsyncSession, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect (plain INSERT where there is none)."""
    name = session.bind.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        return insert(table)
    return dialect_insert(table).on_conflict_do_nothing()


async def mark_judged(db: Database, session: AsyncSession, rows: list[tuple[int, str]], now: datetime) -> int:
    """Set messages (row id, owning server key) to judged; returns how many rows matched both."""
    if db.bulk_via_driver:
        connection = await session.connection()
        stamp = _sqlite_value(now)
        result = await connection.exec_driver_sql(
            "UPDATE messages SET status = ?, error = NULL, updated_at = ? WHERE id = ? AND server_key = ?",
            [(MessageStatus.JUDGED.value, stamp, row_id, server_key) for row_id, server_key in rows],
        )
        return result.rowcount
    # Not an executemany with a rowcount check: asyncpg reports -1 for batched statements. Which rows
    # match both id and owner is read in this transaction (a row's server never changes), then one
    # UPDATE sets them all.
    messages = MessageRow.__table__
    ids = sorted({row_id for row_id, _ in rows})
    owners: dict[int, str] = {}
    for start in range(0, len(ids), 1000):  # bounded IN lists
        chunk = ids[start : start + 1000]
        owners.update((await session.execute(select(messages.c.id, messages.c.server_key).where(messages.c.id.in_(chunk)))).all())
    owned = sorted({row_id for row_id, key in rows if owners.get(row_id) == key})
    for start in range(0, len(owned), 1000):
        await session.execute(
            update(messages)
            .where(messages.c.id.in_(owned[start : start + 1000]))
            .values(status=MessageStatus.JUDGED.value, error=None, updated_at=now)
        )
    # Counted per input row, as the driver's executemany counts them (a batch may judge one row twice).
    return sum(1 for row_id, key in rows if owners.get(row_id) == key)
